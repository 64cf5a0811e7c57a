//! Statistics and the results table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::clients::Client;

/// Median, quartiles and range of a set of samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// The median.
    pub median: f64,
    /// The first quartile.
    pub p25: f64,
    /// The third quartile.
    pub p75: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

/// The `q` quantile of sorted `values`, interpolated linearly.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    sorted[low] * (1.0 - fraction) + sorted[high] * fraction
}

impl Summary {
    /// Summarises `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        sorted.sort_by(f64::total_cmp);
        Summary {
            median: quantile(&sorted, 0.5),
            p25: quantile(&sorted, 0.25),
            p75: quantile(&sorted, 0.75),
            p90: quantile(&sorted, 0.9),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            n: sorted.len(),
        }
    }

    /// `12.3 [11.9–13.0]` (median and interquartile range).
    pub fn describe(&self, decimals: usize) -> String {
        format!(
            "{:.decimals$} [{:.decimals$}–{:.decimals$}]",
            self.median, self.p25, self.p75
        )
    }
}

/// One line of the results table: a metric and its median per client.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario name (`init-1`).
    pub scenario: String,
    /// What is measured, with its unit (`wall (ms)`).
    pub metric: String,
    /// Median per client.
    pub values: BTreeMap<Client, f64>,
    /// Decimals to print.
    pub decimals: usize,
}

impl Row {
    /// A row.
    pub fn new(scenario: &str, metric: &str, decimals: usize) -> Self {
        Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            values: BTreeMap::new(),
            decimals,
        }
    }

    /// A client's value.
    pub fn get(&self, client: Client) -> Option<f64> {
        self.values.get(&client).copied()
    }

    /// bao agent ÷ vaultward.
    pub fn ratio(&self) -> Option<f64> {
        let vaultward = self.get(Client::Vaultward)?;
        let bao = self.get(Client::Bao)?;
        (vaultward != 0.0).then(|| bao / vaultward)
    }
}

fn ratio_text(ratio: Option<f64>) -> String {
    match ratio {
        Some(ratio) if ratio.is_finite() && ratio >= 10.0 => format!("{ratio:.0}×"),
        Some(ratio) if ratio.is_finite() => format!("{ratio:.1}×"),
        _ => "–".to_owned(),
    }
}

/// The table as Markdown: scenario, metric, vaultward, bao agent, ratio, floor, vaultward ÷
/// floor.
pub fn markdown(rows: &[Row]) -> String {
    let mut text = String::from(
        "| scenario | metric | vaultward | bao agent | bao ÷ vaultward | floor | vaultward ÷ floor |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let value = |client| match row.get(client) {
            Some(value) => format!("{value:.prec$}", prec = row.decimals),
            None => "–".to_owned(),
        };
        let over_floor = match (row.get(Client::Vaultward), row.get(Client::Floor)) {
            (Some(vaultward), Some(floor)) if floor != 0.0 => ratio_text(Some(vaultward / floor)),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.metric,
            value(Client::Vaultward),
            value(Client::Bao),
            ratio_text(row.ratio()),
            value(Client::Floor),
            over_floor
        );
    }
    text
}
