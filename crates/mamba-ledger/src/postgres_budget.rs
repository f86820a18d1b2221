//! Fleet budgets on PostgreSQL: the budget tables of schema migration 3 (money as NUMERIC). A
//! hold is one statement: an upsert of the window's row whose update applies only when the
//! sums fit every limit (PostgreSQL locks the row for it, so concurrent holds from any number
//! of processes are checked one after another against the latest sums), and, in the same
//! statement, the hold's own row.

use postgres::{Client, Statement};
use rust_decimal::Decimal;

use crate::LedgerError;
use crate::budget::{Amounts, BudgetUsage, Definition, HoldRequest};
use crate::error::database_error;
use crate::postgres::{Connection, PostgresStore, RELEASE_HOLDS};

const HOLD: &str = "WITH held AS (INSERT INTO mamba_ledger.budget_usage AS usage (budget, \
     window_key, reserved_requests, reserved_input, reserved_output, reserved_cost) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (budget, window_key) DO UPDATE SET \
     reserved_requests = usage.reserved_requests + EXCLUDED.reserved_requests, \
     reserved_input = usage.reserved_input + EXCLUDED.reserved_input, \
     reserved_output = usage.reserved_output + EXCLUDED.reserved_output, \
     reserved_cost = usage.reserved_cost + EXCLUDED.reserved_cost \
     WHERE ($7::BIGINT IS NULL \
       OR usage.used_requests + usage.reserved_requests + EXCLUDED.reserved_requests <= $7) \
     AND ($8::BIGINT IS NULL \
       OR usage.used_input + usage.reserved_input + EXCLUDED.reserved_input <= $8) \
     AND ($9::BIGINT IS NULL \
       OR usage.used_output + usage.reserved_output + EXCLUDED.reserved_output <= $9) \
     AND ($10::BIGINT IS NULL OR usage.used_input + usage.used_output + usage.reserved_input \
       + usage.reserved_output + EXCLUDED.reserved_input + EXCLUDED.reserved_output <= $10) \
     AND ($11::NUMERIC IS NULL \
       OR usage.used_cost + usage.reserved_cost + EXCLUDED.reserved_cost <= $11) \
     RETURNING 1) \
     INSERT INTO mamba_ledger.budget_holds (id, budget, window_key, requests, input, output, \
     cost, expires_ns) SELECT $12, $1, $2, $3, $4, $5, $6, $13 FROM held RETURNING 1";

const EXPIRE: &str = "WITH expired AS (DELETE FROM mamba_ledger.budget_holds \
     WHERE budget = $1 AND window_key = $2 AND expires_ns < $3 \
     RETURNING requests, input, output, cost), \
     sums AS (SELECT COUNT(*) AS holds, COALESCE(SUM(requests), 0) AS requests, \
     COALESCE(SUM(input), 0) AS input, COALESCE(SUM(output), 0) AS output, \
     COALESCE(SUM(cost), 0) AS cost FROM expired) \
     UPDATE mamba_ledger.budget_usage AS usage SET \
     reserved_requests = usage.reserved_requests - sums.requests, \
     reserved_input = usage.reserved_input - sums.input, \
     reserved_output = usage.reserved_output - sums.output, \
     reserved_cost = usage.reserved_cost - sums.cost \
     FROM sums WHERE sums.holds > 0 AND usage.budget = $1 AND usage.window_key = $2";

const USAGE: &str = "SELECT used_requests, used_input, used_output, used_cost, \
     reserved_requests, reserved_input, reserved_output, reserved_cost \
     FROM mamba_ledger.budget_usage WHERE budget = $1 AND window_key = $2";

/// The budget statements, prepared.
pub(crate) struct Statements {
    hold: Statement,
    expire: Statement,
    usage: Statement,
    release: Statement,
}

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            hold: client.prepare(HOLD)?,
            expire: client.prepare(EXPIRE)?,
            usage: client.prepare(USAGE)?,
            release: client.prepare(RELEASE_HOLDS)?,
        })
    }
}

/// The request as owned values, for the connection thread.
struct OwnedHold {
    budget: String,
    window: String,
    id: Vec<u8>,
    amount: Amounts,
    limits: crate::budget::Limits,
    now_ns: i64,
    expires_ns: i64,
}

fn try_hold(connection: &mut Connection, hold: &OwnedHold) -> Result<bool, postgres::Error> {
    let (amount, limits) = (&hold.amount, &hold.limits);
    let rows = connection.client.query(
        &connection.budget.hold,
        &[
            &hold.budget,
            &hold.window,
            &amount.requests,
            &amount.input,
            &amount.output,
            &amount.cost,
            &limits.requests,
            &limits.input,
            &limits.output,
            &limits.total,
            &limits.cost,
            &hold.id,
            &hold.expires_ns,
        ],
    )?;
    Ok(!rows.is_empty())
}

fn usage(
    connection: &mut Connection,
    budget: &str,
    window: &str,
) -> Result<BudgetUsage, postgres::Error> {
    let Some(row) = connection
        .client
        .query_opt(&connection.budget.usage, &[&budget, &window])?
    else {
        return Ok(BudgetUsage::default());
    };
    let amounts = |first: usize| -> Result<Amounts, postgres::Error> {
        Ok(Amounts {
            requests: row.try_get(first)?,
            input: row.try_get(first + 1)?,
            output: row.try_get(first + 2)?,
            cost: row.try_get::<_, Decimal>(first + 3)?,
        })
    };
    Ok(BudgetUsage {
        used: amounts(0)?.spend(),
        reserved: amounts(4)?.spend(),
    })
}

impl PostgresStore {
    pub(crate) fn define_budget(&self, definition: &Definition) -> Result<Definition, LedgerError> {
        let definition = definition.clone();
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let failed = |action| database_error(location, action);
                let (key, value) = definition
                    .label
                    .as_ref()
                    .map(|(key, value)| (key.as_str(), value.as_str()))
                    .unzip();
                connection
                    .client
                    .execute(
                        "INSERT INTO mamba_ledger.budgets (name, model, label_key, label_value, \
                         period) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                        &[
                            &definition.name,
                            &definition.model,
                            &key,
                            &value,
                            &definition.period,
                        ],
                    )
                    .map_err(failed("cannot define a fleet budget"))?;
                let row = connection
                    .client
                    .query_one(
                        "SELECT model, label_key, label_value, period FROM mamba_ledger.budgets \
                         WHERE name = $1",
                        &[&definition.name],
                    )
                    .map_err(failed("cannot read a fleet budget"))?;
                let read = || -> Result<Definition, postgres::Error> {
                    let label = match (row.try_get(1)?, row.try_get(2)?) {
                        (Some(key), Some(value)) => Some((key, value)),
                        _ => None,
                    };
                    Ok(Definition::stored(
                        definition.name.clone(),
                        row.try_get(0)?,
                        label,
                        row.try_get(3)?,
                    ))
                };
                read().map_err(failed("cannot read a fleet budget"))
            })
        })
    }

    pub(crate) fn hold(
        &self,
        request: &HoldRequest<'_>,
    ) -> Result<Option<BudgetUsage>, LedgerError> {
        let hold = OwnedHold {
            budget: request.budget.to_owned(),
            window: request.window.to_owned(),
            id: request.id.to_vec(),
            amount: request.amount,
            limits: request.limits,
            now_ns: request.now_ns,
            expires_ns: request.expires_ns,
        };
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let failed = |action| database_error(location, action);
                if try_hold(connection, &hold).map_err(failed("cannot hold"))? {
                    return Ok(None);
                }
                let expired = connection
                    .client
                    .execute(
                        &connection.budget.expire,
                        &[&hold.budget, &hold.window, &hold.now_ns],
                    )
                    .map_err(failed("cannot expire stale holds"))?;
                if expired > 0 && try_hold(connection, &hold).map_err(failed("cannot hold"))? {
                    return Ok(None);
                }
                usage(connection, &hold.budget, &hold.window)
                    .map(Some)
                    .map_err(failed("cannot read a fleet budget's usage"))
            })
        })
    }

    pub(crate) fn release_hold(&self, id: [u8; 16]) -> Result<(), LedgerError> {
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let ids: Vec<&[u8]> = vec![&id[..]];
                connection
                    .client
                    .execute(&connection.budget.release, &[&ids])
                    .map(drop)
                    .map_err(database_error(location, "cannot release a hold"))
            })
        })
    }

    pub(crate) fn budget_usage(
        &self,
        budget: &str,
        window: &str,
    ) -> Result<BudgetUsage, LedgerError> {
        let (budget, window) = (budget.to_owned(), window.to_owned());
        self.run(move |session| {
            session.with_connection(|connection, location| {
                usage(connection, &budget, &window).map_err(database_error(
                    location,
                    "cannot read a fleet budget's usage",
                ))
            })
        })
    }
}
