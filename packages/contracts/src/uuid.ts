/** A UUID in its canonical text form, any version, either case: ids of messages, tenants, keys. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const UUID = new RegExp(UUID_PATTERN);

/** Whether `value` is a UUID: an id that is not one can be answered 404 at once, without a query. */
export const isUuid = (value: string): boolean => UUID.test(value);
