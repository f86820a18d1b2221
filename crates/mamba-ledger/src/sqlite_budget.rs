//! Fleet budgets on SQLite: the budget tables of schema migration 3, with money as decimal
//! text added, subtracted and compared by functions registered from Rust (`decimal_add`,
//! `decimal_sub`, `decimal_le`), never as floats. A hold is one conditional upsert in an
//! immediate transaction: SQLite serialises writers on the file, so threads and processes on
//! the same file cannot hold past a limit.

use std::str::FromStr;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rust_decimal::Decimal;

use crate::LedgerError;
use crate::budget::{Amounts, BudgetUsage, Definition, HoldRequest};
use crate::sqlite::SqliteStore;
use crate::stored::Values;

/// Registers the exact decimal functions the budget statements use.
pub(crate) fn register_decimal_functions(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("decimal_add", 2, flags, |ctx| {
        let (a, b) = (decimal(ctx, 0)?, decimal(ctx, 1)?);
        a.checked_add(b)
            .map(|sum| sum.normalize().to_string())
            .ok_or_else(|| out_of_range("decimal_add"))
    })?;
    connection.create_scalar_function("decimal_sub", 2, flags, |ctx| {
        let (a, b) = (decimal(ctx, 0)?, decimal(ctx, 1)?);
        a.checked_sub(b)
            .map(|difference| difference.normalize().to_string())
            .ok_or_else(|| out_of_range("decimal_sub"))
    })?;
    connection.create_scalar_function("decimal_le", 2, flags, |ctx| {
        Ok(decimal(ctx, 0)? <= decimal(ctx, 1)?)
    })
}

fn decimal(ctx: &Context<'_>, index: usize) -> rusqlite::Result<Decimal> {
    let text: String = ctx.get(index)?;
    Decimal::from_str(&text).map_err(|e| {
        rusqlite::Error::UserFunctionError(format!("`{text}` is not a decimal: {e}").into())
    })
}

fn out_of_range(function: &str) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(format!("{function}: beyond the decimal range").into())
}

/// Whether the file defines any budget (so inserts need not count records in none).
pub(crate) fn any_budget(transaction: &Transaction<'_>) -> rusqlite::Result<bool> {
    transaction
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM budgets)")?
        .query_row([], |row| row.get(0))
}

/// Adds a just-inserted record (its labels already in) to every budget whose scope covers it,
/// in the window its timestamp falls in.
pub(crate) fn count_in_budgets(
    transaction: &Transaction<'_>,
    values: &Values,
    total_cost: &str,
) -> rusqlite::Result<usize> {
    transaction
        .prepare_cached(
            "INSERT INTO budget_usage (budget, window_key, used_requests, used_input, \
             used_output, used_cost) \
             SELECT b.name, CASE b.period WHEN 'total' THEN 'total' \
                 WHEN 'day' THEN date(?1 / 1000000000, 'unixepoch') \
                 ELSE strftime('%Y-%m', ?1 / 1000000000, 'unixepoch') END, \
               1, ?2, ?3, ?4 \
             FROM budgets AS b \
             WHERE (b.model IS NULL OR b.model = ?5) \
               AND (b.label_key IS NULL OR EXISTS (SELECT 1 FROM record_labels AS l \
                    WHERE l.record_id = ?6 AND l.key = b.label_key AND l.value = b.label_value)) \
             ON CONFLICT (budget, window_key) DO UPDATE SET \
               used_requests = used_requests + excluded.used_requests, \
               used_input = used_input + excluded.used_input, \
               used_output = used_output + excluded.used_output, \
               used_cost = decimal_add(used_cost, excluded.used_cost)",
        )?
        .execute(params![
            values.ts_ns,
            values.counts.prompt,
            values.counts.completion,
            total_cost,
            values.record.model(),
            &values.id.to_bytes()[..],
        ])
}

/// Gives the hold `id` back in `transaction` (nothing if it was settled or expired).
pub(crate) fn release(transaction: &Transaction<'_>, id: &[u8; 16]) -> rusqlite::Result<()> {
    let held = transaction
        .prepare_cached(
            "DELETE FROM budget_holds WHERE id = ?1 \
             RETURNING budget, window_key, requests, input, output, cost",
        )?
        .query_row(params![&id[..]], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .optional()?;
    if let Some((budget, window, requests, input, output, cost)) = held {
        unreserve(
            transaction,
            &budget,
            &window,
            requests,
            input,
            output,
            &cost,
        )?;
    }
    Ok(())
}

fn unreserve(
    transaction: &Transaction<'_>,
    budget: &str,
    window: &str,
    requests: i64,
    input: i64,
    output: i64,
    cost: &str,
) -> rusqlite::Result<usize> {
    transaction
        .prepare_cached(
            "UPDATE budget_usage SET reserved_requests = reserved_requests - ?3, \
             reserved_input = reserved_input - ?4, reserved_output = reserved_output - ?5, \
             reserved_cost = decimal_sub(reserved_cost, ?6) \
             WHERE budget = ?1 AND window_key = ?2",
        )?
        .execute(params![budget, window, requests, input, output, cost])
}

/// Holds the request's amount if it fits every limit beside what the window used and holds:
/// the check and the hold are one upsert, whose update applies only when the sums fit.
fn try_hold(transaction: &Transaction<'_>, request: &HoldRequest<'_>) -> rusqlite::Result<bool> {
    let (amount, limits) = (&request.amount, &request.limits);
    let held = transaction
        .prepare_cached(
            "INSERT INTO budget_usage (budget, window_key, reserved_requests, reserved_input, \
             reserved_output, reserved_cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (budget, window_key) DO UPDATE SET \
               reserved_requests = reserved_requests + excluded.reserved_requests, \
               reserved_input = reserved_input + excluded.reserved_input, \
               reserved_output = reserved_output + excluded.reserved_output, \
               reserved_cost = decimal_add(reserved_cost, excluded.reserved_cost) \
             WHERE (?7 IS NULL OR used_requests + reserved_requests + excluded.reserved_requests <= ?7) \
               AND (?8 IS NULL OR used_input + reserved_input + excluded.reserved_input <= ?8) \
               AND (?9 IS NULL OR used_output + reserved_output + excluded.reserved_output <= ?9) \
               AND (?10 IS NULL OR used_input + used_output + reserved_input + reserved_output \
                    + excluded.reserved_input + excluded.reserved_output <= ?10) \
               AND (?11 IS NULL OR decimal_le(decimal_add(decimal_add(used_cost, reserved_cost), \
                    excluded.reserved_cost), ?11)) \
             RETURNING 1",
        )?
        .query_row(
            params![
                request.budget,
                request.window,
                amount.requests,
                amount.input,
                amount.output,
                amount.cost.to_string(),
                limits.requests,
                limits.input,
                limits.output,
                limits.total,
                limits.cost.map(|cost| cost.to_string()),
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if held {
        transaction
            .prepare_cached(
                "INSERT INTO budget_holds (id, budget, window_key, requests, input, output, \
                 cost, expires_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                &request.id[..],
                request.budget,
                request.window,
                amount.requests,
                amount.input,
                amount.output,
                amount.cost.to_string(),
                request.expires_ns,
            ])?;
    }
    Ok(held)
}

/// Gives back the holds of the window that expired before `now_ns` (their processes
/// crashed, or never settled); how many.
fn expire(
    transaction: &Transaction<'_>,
    budget: &str,
    window: &str,
    now_ns: i64,
) -> rusqlite::Result<usize> {
    let expired: Vec<(i64, i64, i64, String)> = transaction
        .prepare_cached(
            "DELETE FROM budget_holds WHERE budget = ?1 AND window_key = ?2 AND expires_ns < ?3 \
             RETURNING requests, input, output, cost",
        )?
        .query_map(params![budget, window, now_ns], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (requests, input, output, cost) in &expired {
        unreserve(
            transaction,
            budget,
            window,
            *requests,
            *input,
            *output,
            cost,
        )?;
    }
    Ok(expired.len())
}

fn usage(transaction: &Connection, budget: &str, window: &str) -> rusqlite::Result<BudgetUsage> {
    let row = transaction
        .prepare_cached(
            "SELECT used_requests, used_input, used_output, used_cost, reserved_requests, \
             reserved_input, reserved_output, reserved_cost \
             FROM budget_usage WHERE budget = ?1 AND window_key = ?2",
        )?
        .query_row(params![budget, window], |row| {
            let money = |index: usize| -> rusqlite::Result<Decimal> {
                let text: String = row.get(index)?;
                Decimal::from_str(&text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        index,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })
            };
            Ok(BudgetUsage {
                used: Amounts {
                    requests: row.get(0)?,
                    input: row.get(1)?,
                    output: row.get(2)?,
                    cost: money(3)?,
                }
                .spend(),
                reserved: Amounts {
                    requests: row.get(4)?,
                    input: row.get(5)?,
                    output: row.get(6)?,
                    cost: money(7)?,
                }
                .spend(),
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

impl SqliteStore {
    pub(crate) fn define_budget(&self, definition: &Definition) -> Result<Definition, LedgerError> {
        let connection = self.lock();
        let (key, value) = definition
            .label
            .as_ref()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .unzip();
        connection
            .prepare_cached(
                "INSERT INTO budgets (name, model, label_key, label_value, period) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    definition.name,
                    definition.model,
                    key,
                    value,
                    definition.period
                ])
            })
            .map_err(self.failed("cannot define a fleet budget"))?;
        connection
            .prepare_cached(
                "SELECT model, label_key, label_value, period FROM budgets WHERE name = ?1",
            )
            .and_then(|mut select| {
                select.query_row(params![definition.name], |row| {
                    let label = match (row.get(1)?, row.get(2)?) {
                        (Some(key), Some(value)) => Some((key, value)),
                        _ => None,
                    };
                    Ok(Definition::stored(
                        definition.name.clone(),
                        row.get(0)?,
                        label,
                        &row.get::<_, String>(3)?,
                    ))
                })
            })
            .map_err(self.failed("cannot read a fleet budget"))
    }

    pub(crate) fn hold(
        &self,
        request: &HoldRequest<'_>,
    ) -> Result<Option<BudgetUsage>, LedgerError> {
        let mut connection = self.lock();
        // Immediate: the write lock is taken before the check, so no other writer can move
        // the sums between the check and the hold.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.failed("cannot begin a transaction"))?;
        let mut held = try_hold(&transaction, request).map_err(self.failed("cannot hold"))?;
        if !held
            && expire(&transaction, request.budget, request.window, request.now_ns)
                .map_err(self.failed("cannot expire stale holds"))?
                > 0
        {
            held = try_hold(&transaction, request).map_err(self.failed("cannot hold"))?;
        }
        let refused = if held {
            None
        } else {
            Some(
                usage(&transaction, request.budget, request.window)
                    .map_err(self.failed("cannot read a fleet budget's usage"))?,
            )
        };
        transaction
            .commit()
            .map_err(self.failed("cannot commit a hold"))?;
        Ok(refused)
    }

    pub(crate) fn release_hold(&self, id: [u8; 16]) -> Result<(), LedgerError> {
        let mut connection = self.lock();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.failed("cannot begin a transaction"))?;
        release(&transaction, &id).map_err(self.failed("cannot release a hold"))?;
        transaction
            .commit()
            .map_err(self.failed("cannot commit a release"))
    }

    pub(crate) fn budget_usage(
        &self,
        budget: &str,
        window: &str,
    ) -> Result<BudgetUsage, LedgerError> {
        let connection = self.lock();
        usage(&connection, budget, window)
            .map_err(self.failed("cannot read a fleet budget's usage"))
    }
}
