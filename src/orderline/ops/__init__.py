"""Operations on the DynamoDB tables: backup, restore, table migration, retention."""
