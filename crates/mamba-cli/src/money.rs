//! Money as the CLI shows it: exact, never rounded. Prices and costs are `Decimal`s from the
//! price table and the ledger; showing them rounded would make a report disagree with the
//! books it came from.

use rust_decimal::Decimal;

/// `$0.000315`, `$2.50`, `$1200.00`: every digit of `amount`, at least two decimals.
pub(crate) fn exact_usd(amount: Decimal) -> String {
    let mut shown = amount.normalize();
    if shown.scale() < 2 {
        shown.rescale(2);
    }
    if shown.is_sign_negative() {
        format!("-${}", shown.abs())
    } else {
        format!("${shown}")
    }
}

/// The decimal text of `amount` with every digit and no trailing zeros (`0.000315`, `0`): the
/// machine-readable form (JSON, CSV).
pub(crate) fn exact_text(amount: Decimal) -> String {
    amount.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_every_digit() {
        assert_eq!(exact_usd(Decimal::new(3150, 7)), "$0.000315");
        assert_eq!(exact_usd(Decimal::new(25, 1)), "$2.50");
        assert_eq!(exact_usd(Decimal::ZERO), "$0.00");
        assert_eq!(exact_usd(Decimal::new(-5, 0)), "-$5.00");
        assert_eq!(
            exact_usd(Decimal::new(1_234_567_891, 12)),
            "$0.001234567891"
        );
        assert_eq!(exact_text(Decimal::new(3150, 7)), "0.000315");
        assert_eq!(exact_text(Decimal::new(0, 3)), "0");
    }
}
