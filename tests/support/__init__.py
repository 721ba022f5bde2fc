"""Helpers the tests share: certificates, processes, brokers (never product code)."""
