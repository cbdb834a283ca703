import type pg from 'pg';
import { sql } from './sql-files.ts';

/**
 * A tenant's quiet hours (migration 0014): messages below critical that would go out
 * between `starts` and `ends` (HH:MM, the recipient's local time; a window may run past
 * midnight, 21:00–08:00) are held as scheduled until `ends`. The zone comes from the phone
 * number's country; `defaultTimeZone` (an IANA name) serves a country with several zones
 * and recipients without a phone number.
 */
export interface QuietHours {
  tenantId: string;
  starts: string;
  ends: string;
  defaultTimeZone: string;
  updatedAt: Date;
}

export type QuietHoursSetting = Pick<QuietHours, 'starts' | 'ends' | 'defaultTimeZone'>;

interface Row {
  tenant_id: string;
  starts: string;
  ends: string;
  default_time_zone: string;
  updated_at: Date;
}

const toQuietHours = (r: Row): QuietHours => ({
  tenantId: r.tenant_id,
  starts: r.starts,
  ends: r.ends,
  defaultTimeZone: r.default_time_zone,
  updatedAt: r.updated_at,
});

/** Sets them (replacing any before); null when there is no such tenant. */
export async function setQuietHours(pool: pg.Pool, tenantId: string, setting: QuietHoursSetting): Promise<QuietHours | null> {
  const { rows } = await pool.query<Row>(sql('quiet-hours-set'), [tenantId, setting.starts, setting.ends, setting.defaultTimeZone]);
  return rows[0] === undefined ? null : toQuietHours(rows[0]);
}

export async function getQuietHours(pool: pg.Pool, tenantId: string): Promise<QuietHours | null> {
  const { rows } = await pool.query<Row>(sql('quiet-hours-get'), [tenantId]);
  return rows[0] === undefined ? null : toQuietHours(rows[0]);
}

/** Every tenant's, for the workers' cache. */
export async function allQuietHours(pool: pg.Pool): Promise<QuietHours[]> {
  const { rows } = await pool.query<Row>(sql('quiet-hours-get'), [null]);
  return rows.map(toQuietHours);
}

/** False when the tenant had none. */
export async function removeQuietHours(pool: pg.Pool, tenantId: string): Promise<boolean> {
  const { rowCount } = await pool.query(sql('quiet-hours-remove'), [tenantId]);
  return rowCount === 1;
}
