"""Tenant storage: where each tenant's tables live, and how they are created and migrated."""

from tenants.storage.backends import PostgresStorage, SQLiteStorage, TenantBusy, TenantStorage

__all__ = ["PostgresStorage", "SQLiteStorage", "TenantBusy", "TenantStorage"]
