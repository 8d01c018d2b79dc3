"""Operations on the tables: AWS infrastructure as code, IAM, drift and cost from the table
specs; backup, restore, table migration and retention."""
