import { SegmentedMessage } from 'sms-segments-calculator';

/**
 * What an SMS costs before it is sent: its encoding and the number of segments the
 * network bills. GSM-7 fits 160 characters in one segment and 153 in each of several;
 * any character outside GSM-7 (Arabic, emoji) makes the whole message UCS-2, 70 and 67.
 * Counted by Twilio's own calculator (sms-segments-calculator, GSM 03.38 with its
 * extension table, whose characters take two septets), not by a copy of its tables.
 */
export interface SmsCost {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
}

export function smsCost(content: string): SmsCost {
  const segmented = new SegmentedMessage(content);
  return { encoding: segmented.encodingName === 'GSM-7' ? 'GSM-7' : 'UCS-2', segments: segmented.segmentsCount };
}

/** The view's `sms` field: the cost of an sms message, null for other channels. */
export const smsCostOf = (channel: string, content: string): SmsCost | null => (channel === 'sms' ? smsCost(content) : null);
