//! An organization's dashboard: the activity on what it made, sells or brands. A producer or
//! processor sees its lots and every lot made from them (and where they went); a store sees its
//! shelf scans, reservations and pickups; a brand sees the conversion from scan to purchase by
//! channel for its products. Charts are SVG drawn here, on the server.

use crate::db::DbConn;
pub use crate::db::activity::Coverage;
use crate::db::rollups::{self, DayTotal, SeriesTotal};
use crate::db::rows::{ActivityRow, OrgRow};
use crate::domain::Role;
use crate::omo::activity::{Channel, Kind};
use chrono::{Duration, NaiveDate};
use diesel::QueryResult;
use std::collections::{BTreeMap, HashMap};

impl Coverage {
    /// What `org`'s dashboard covers: the lots it created and everything made from them, the
    /// products it brands, and its own store when it is a retailer.
    pub fn of(org: &OrgRow) -> Self {
        Self {
            org: org.id.clone(),
            store: org.has_role(Role::Retailer).then(|| org.id.clone()),
        }
    }

    /// Its dashboard for the last `days` days up to `today`, from its roll-ups.
    pub fn summary(&self, conn: &mut DbConn, today: NaiveDate, days: u32) -> QueryResult<Summary> {
        let since = first_day(today, days);
        let by_day = rollups::daily(conn, &self.org, since)?;
        let by_series = rollups::series_since(conn, &self.org, since)?;
        Ok(summarize(&by_day, &by_series, today, days))
    }
}

/// The first day of a window of `days` days ending `today`.
pub fn first_day(today: NaiveDate, days: u32) -> NaiveDate {
    today - Duration::days(i64::from(days.max(1)) - 1)
}

/// Counts of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub scans: i64,
    pub embed_views: i64,
    pub clicks: i64,
    pub reservations: i64,
    pub pickups: i64,
}

impl Counts {
    fn add(&mut self, kind: &str, n: i64) {
        match Kind::parse(kind) {
            Some(Kind::Scan) => self.scans += n,
            Some(Kind::EmbedView) => self.embed_views += n,
            Some(Kind::ListingClick) => self.clicks += n,
            Some(Kind::Reservation) => self.reservations += n,
            Some(Kind::Pickup) => self.pickups += n,
            None => {}
        }
    }

    pub fn views(&self) -> i64 {
        self.scans + self.embed_views
    }

    /// Purchases we can see: clicks to the online listing (the checkout is the shop's) and
    /// pickups handed over in a store.
    pub fn purchases(&self) -> i64 {
        self.clicks + self.pickups
    }

    /// Purchases per view, as a percentage with one decimal ("12.5"), or "–" without views.
    pub fn conversion(&self) -> String {
        if self.views() == 0 {
            return "–".into();
        }
        format!(
            "{:.1}",
            self.purchases() as f64 * 100.0 / self.views() as f64
        )
    }
}

/// One bar of a daily chart, in SVG user units.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub height: f64,
    pub day: String,
    pub value: i64,
}

/// A bar chart of views per day with purchases drawn as a line over it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub bar_width: f64,
    pub bars: Vec<Bar>,
    /// `points` of an SVG polyline.
    pub purchases: String,
    pub max: i64,
    pub first_day: String,
    pub last_day: String,
}

pub const CHART_WIDTH: f64 = 640.0;
pub const CHART_HEIGHT: f64 = 160.0;

fn chart(days: &[(NaiveDate, Counts)]) -> Chart {
    let max = days
        .iter()
        .map(|(_, c)| c.views().max(c.purchases()))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = CHART_WIDTH / days.len().max(1) as f64;
    let scale = |v: i64| (v as f64 / max as f64) * (CHART_HEIGHT - 10.0);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, c))| {
            let h = scale(c.views());
            Bar {
                x: i as f64 * slot + slot * 0.1,
                y: CHART_HEIGHT - h,
                height: h,
                day: day.to_string(),
                value: c.views(),
            }
        })
        .collect();
    let purchases = days
        .iter()
        .enumerate()
        .map(|(i, (_, c))| {
            format!(
                "{:.1},{:.1}",
                i as f64 * slot + slot / 2.0,
                CHART_HEIGHT - scale(c.purchases())
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    Chart {
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        bar_width: slot * 0.8,
        bars,
        purchases,
        max,
        first_day: days.first().map(|(d, _)| d.to_string()).unwrap_or_default(),
        last_day: days.last().map(|(d, _)| d.to_string()).unwrap_or_default(),
    }
}

/// Everything the dashboard shows, from the counters it covers.
#[derive(Debug, Clone)]
pub struct Summary {
    pub total: Counts,
    pub by_channel: Vec<(Channel, Counts)>,
    /// (GTIN, lot) and its counts, busiest first.
    pub by_lot: Vec<((String, String), Counts)>,
    /// Store id and its counts, busiest first.
    pub by_store: Vec<(String, Counts)>,
    pub chart: Chart,
}

/// The dashboard from its sums per day, kind and channel and of each lot's and store's series.
pub fn summarize(
    by_day_sums: &[DayTotal],
    by_series: &[SeriesTotal],
    today: NaiveDate,
    days: u32,
) -> Summary {
    let mut total = Counts::default();
    let mut by_channel: BTreeMap<Channel, Counts> = Channel::ALL
        .into_iter()
        .map(|c| (c, Counts::default()))
        .collect();
    let first = first_day(today, days);
    let mut by_day: Vec<(NaiveDate, Counts)> = first
        .iter_days()
        .take(days.max(1) as usize)
        .map(|d| (d, Counts::default()))
        .collect();
    for sum in by_day_sums {
        total.add(&sum.kind, sum.count);
        if let Some(channel) = Channel::parse(&sum.channel) {
            by_channel
                .entry(channel)
                .or_default()
                .add(&sum.kind, sum.count);
        }
        if let Ok(i) = usize::try_from((sum.day - first).num_days())
            && let Some((_, counts)) = by_day.get_mut(i)
        {
            counts.add(&sum.kind, sum.count);
        }
    }
    let mut by_lot: HashMap<(String, String), Counts> = HashMap::new();
    let mut by_store: HashMap<String, Counts> = HashMap::new();
    for sum in by_series {
        if !sum.lot.is_empty() {
            by_lot
                .entry((sum.gtin.clone(), sum.lot.clone()))
                .or_default()
                .add(&sum.kind, sum.count);
        }
        if !sum.store.is_empty() {
            by_store
                .entry(sum.store.clone())
                .or_default()
                .add(&sum.kind, sum.count);
        }
    }
    let busiest = |c: &Counts| std::cmp::Reverse(c.views() + c.purchases() + c.reservations);
    let mut by_lot: Vec<_> = by_lot.into_iter().collect();
    by_lot.sort_by(|a, b| busiest(&a.1).cmp(&busiest(&b.1)).then(a.0.cmp(&b.0)));
    let mut by_store: Vec<_> = by_store.into_iter().collect();
    by_store.sort_by(|a, b| busiest(&a.1).cmp(&busiest(&b.1)).then(a.0.cmp(&b.0)));
    Summary {
        total,
        by_channel: by_channel.into_iter().collect(),
        by_lot,
        by_store,
        chart: chart(&by_day),
    }
}

/// The counters as CSV, one row per counter, in the order given ([`Coverage::counters`] gives
/// them oldest day first).
pub fn csv(rows: &[ActivityRow], store_names: &HashMap<String, String>) -> String {
    let mut out = String::from("day,gtin,lot,store_id,store,kind,channel,count\r\n");
    for r in rows {
        let name = store_names.get(&r.store).map_or("", String::as_str);
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            r.day,
            r.gtin,
            csv_field(&r.lot),
            r.store,
            csv_field(name),
            r.kind,
            r.channel,
            r.count
        ));
    }
    out
}

/// A CSV field, quoted when needed (RFC 4180), and never starting like a spreadsheet formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RICE: &str = "04712345000022";

    fn day_sum(day: NaiveDate, kind: Kind, channel: Channel, count: i64) -> DayTotal {
        DayTotal {
            day,
            kind: kind.as_str().into(),
            channel: channel.as_str().into(),
            count,
        }
    }

    /// A lot's series (`store` empty) or a store's (`lot` empty).
    fn series(lot: &str, store: &str, kind: Kind, count: i64) -> SeriesTotal {
        SeriesTotal {
            gtin: if lot.is_empty() { "" } else { RICE }.into(),
            lot: lot.into(),
            store: store.into(),
            kind: kind.as_str().into(),
            count,
        }
    }

    #[test]
    fn summaries_add_up_by_channel_lot_store_and_day() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let yesterday = today.pred_opt().unwrap();
        let by_day = vec![
            day_sum(today, Kind::Scan, Channel::Package, 10),
            day_sum(yesterday, Kind::Scan, Channel::Shelf, 5),
            day_sum(today, Kind::Pickup, Channel::Shelf, 1),
            day_sum(today, Kind::ListingClick, Channel::Embed, 2),
            day_sum(today, Kind::EmbedView, Channel::Embed, 8),
            // Outside the chart's window: still in the totals (the query chooses the days).
            day_sum(today - Duration::days(40), Kind::Scan, Channel::Direct, 3),
        ];
        let by_series = vec![
            series("A", "", Kind::Scan, 15),
            series("A", "", Kind::Pickup, 1),
            series("B", "", Kind::ListingClick, 2),
            series("B", "", Kind::EmbedView, 8),
            series("B", "", Kind::Scan, 3),
            series("", "s1", Kind::Scan, 5),
            series("", "s1", Kind::Pickup, 1),
            series("", "s2", Kind::Scan, 1),
        ];
        let s = summarize(&by_day, &by_series, today, 7);
        assert_eq!(s.total.views(), 26);
        assert_eq!(s.total.purchases(), 3);
        let shelf = s
            .by_channel
            .iter()
            .find(|(c, _)| *c == Channel::Shelf)
            .unwrap()
            .1;
        assert_eq!(
            (shelf.scans, shelf.pickups, shelf.conversion()),
            (5, 1, "20.0".into())
        );
        let embed = s
            .by_channel
            .iter()
            .find(|(c, _)| *c == Channel::Embed)
            .unwrap()
            .1;
        assert_eq!(embed.conversion(), "25.0");
        assert_eq!(s.by_lot.len(), 2, "store series are no lots");
        assert_eq!(s.by_lot[0].0.1, "A", "busiest lot first");
        assert_eq!(s.by_lot[0].1.views(), 15);
        let stores: Vec<(&str, i64, i64)> = s
            .by_store
            .iter()
            .map(|(id, c)| (id.as_str(), c.scans, c.pickups))
            .collect();
        assert_eq!(stores, [("s1", 5, 1), ("s2", 1, 0)], "busiest store first");
        assert_eq!(s.chart.bars.len(), 7);
        assert_eq!(
            s.chart.bars[6].value, 18,
            "10 scans and 8 embed views today"
        );
        assert_eq!(s.chart.bars[5].value, 5);
        assert_eq!(s.chart.max, 18);
        assert!(
            s.chart
                .bars
                .iter()
                .all(|b| b.y >= 0.0 && b.y + b.height <= CHART_HEIGHT + 1e-9)
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let rows = vec![ActivityRow {
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            gtin: RICE.into(),
            lot: "=HYPERLINK(1)".into(),
            store: "s1".into(),
            kind: Kind::Scan.as_str().into(),
            channel: Channel::Shelf.as_str().into(),
            count: 4,
        }];
        let names = HashMap::from([("s1".to_owned(), "Store, \"Xinyi\"".to_owned())]);
        let out = csv(&rows, &names);
        assert!(out.starts_with("day,gtin,lot,store_id,store,kind,channel,count\r\n"));
        assert!(
            out.contains(",'=HYPERLINK(1),s1,\"Store, \"\"Xinyi\"\"\",scan,shelf,4\r\n"),
            "{out}"
        );
    }
}
