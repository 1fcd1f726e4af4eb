DROP TRIGGER pow_store_changed ON pow_store;
DROP FUNCTION pow_store_changed();
