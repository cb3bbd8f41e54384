#!/bin/sh
# Runs one down-migration with the team's migration tool. The DSN comes from
# the environment (ORDERS_DATABASE_URL, allow-listed in the runbook); the
# versions arrive as argv.
set -eu
from=$1
to=$2
: "${ORDERS_DATABASE_URL:?ORDERS_DATABASE_URL is not set}"
echo "migrating schema down from $from to $to"
exec migrate -database "$ORDERS_DATABASE_URL" -path /migrations goto "$to"
