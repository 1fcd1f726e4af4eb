-- Every change to a live record of pow_store is told to the servers that keep records in
-- memory (SqlStore::with_local_cache), whoever made it: an app server, the `pow` command,
-- or SQL run by hand. The channel is per schema, like the table; the payload is the
-- record's namespace and key in hex. New records need no message (nothing caches a record
-- that was not there), and neither do expired ones the sweep deletes.
CREATE FUNCTION pow_store_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.expires_at IS NOT NULL
     AND OLD.expires_at <= CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify(
    'pow_' || md5(TG_TABLE_SCHEMA || ':near-cache'),
    encode(convert_to(OLD.namespace, 'UTF8'), 'hex') || '.' || encode(OLD.key, 'hex')
  );
  RETURN NULL;
END
$$;
CREATE TRIGGER pow_store_changed AFTER UPDATE OR DELETE ON pow_store
  FOR EACH ROW EXECUTE FUNCTION pow_store_changed();
