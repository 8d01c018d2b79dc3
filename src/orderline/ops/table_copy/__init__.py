"""Copying a table into a new one through an item transform.

migrate.py           `orderline migrate-table`: scan -> transform -> write, resumable per
                     segment; conditional puts for a backfill (`put_item_if_newer`)
transforms.py        the item transforms `--transform` names (`order_status_v2`)
online_migration.py  `orderline migration start|advance|status|rollback`: the operator's
                     steps of a zero-downtime migration (the phases and the router every
                     process follows: readmodel/table_migration.py)
"""
