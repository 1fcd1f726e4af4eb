DROP TABLE pow_store;
