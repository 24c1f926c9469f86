//! Slowing down password guessing (docs/omo.md, "Logging in").
//!
//! Our policy: a few failed logins are free; after them, every further failure makes the account,
//! and separately the client's address, wait before its next attempt is even checked: 1 s, then
//! 2 s, 4 s, ... up to 15 minutes. A success clears the account's failures (not the address's,
//! so one valid account cannot launder guesses at others); failures are forgotten after an hour
//! without one. Attempts refused while waiting cost no argon2 work and do not count.
//!
//! Beside it, a flat cap on the attempts one address may have checked (a GCRA limiter from the
//! `governor` crate), which bounds the argon2 work, right passwords included, one address can
//! cause; and a bound on how many argon2 computations run at once (19 MiB of memory each).
//!
//! The state is in memory, per server: with several servers behind a load balancer, each keeps
//! its own counts.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins of one account that cost no delay.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failed logins from one address (over any accounts) that cost no delay.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten this long after the last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Attempts one address may have checked: a burst of this many ...
const ATTEMPT_BURST: u32 = 20;
/// ... then one every this many seconds.
const ATTEMPT_PERIOD_SECS: u64 = 1;
/// Entries kept per table before the forgotten ones are swept.
const MAX_ENTRIES: usize = 100_000;

/// The wait after the `failures`-th failure when `free` are free: none, then 1 s doubling.
fn delay_after(failures: u32, free: u32) -> Duration {
    match failures.checked_sub(free + 1) {
        None => Duration::ZERO,
        Some(doublings) => Duration::from_secs(1u64 << doublings.min(20)).min(MAX_DELAY),
    }
}

struct Failures {
    count: u32,
    last: Instant,
    /// No attempt is checked before this.
    until: Instant,
}

/// Failures counted per key (an account, or an address) with the growing delay.
struct Backoff<K> {
    free: u32,
    entries: Mutex<HashMap<K, Failures>>,
}

impl<K: std::hash::Hash + Eq> Backoff<K> {
    fn new(free: u32) -> Self {
        Self {
            free,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long the key must still wait, if at all.
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key)?;
        (entry.until > now).then(|| entry.until - now)
    }

    /// Counts a failure; the wait it imposes, if any.
    fn fail(&self, key: K, now: Instant) -> Option<Duration> {
        let mut entries = self.entries.lock().ok()?;
        if entries.len() >= MAX_ENTRIES {
            // Keep whatever still delays someone; a key under its free failures loses little.
            let free = self.free;
            entries.retain(|_, e| now - e.last < FORGET_AFTER && e.count > free);
        }
        let entry = entries.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            until: now,
        });
        if now - entry.last >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let delay = delay_after(entry.count, self.free);
        entry.until = now + delay;
        (!delay.is_zero()).then_some(delay)
    }

    fn clear(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

/// Why a login attempt is not checked now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up (for `Retry-After` and the page).
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

/// The login throttle a server keeps (one per server, in `AppState`).
pub struct LoginThrottle {
    accounts: Backoff<String>,
    addresses: Backoff<IpAddr>,
    attempts: DefaultKeyedRateLimiter<IpAddr>,
    /// At most this many argon2 computations at once: a flood waits here, not in memory.
    pub argon2: tokio::sync::Semaphore,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let burst = NonZeroU32::new(ATTEMPT_BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(ATTEMPT_PERIOD_SECS))
            .map_or_else(|| Quota::per_second(burst), |q| q.allow_burst(burst));
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            accounts: Backoff::new(ACCOUNT_FREE_FAILURES),
            addresses: Backoff::new(ADDRESS_FREE_FAILURES),
            attempts: RateLimiter::keyed(quota),
            argon2: tokio::sync::Semaphore::new(cores),
        }
    }
}

/// The key an address is counted under: an IPv6 client usually holds a whole /64, so it counts
/// as one.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

/// The key an account is counted under: what was typed, as the login looks it up (whether or not
/// such an account exists, so the answer does not tell).
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase().chars().take(254).collect()
}

impl LoginThrottle {
    /// Whether an attempt for `account` from `address` may be checked now; when it may, it is
    /// counted against the address's flat cap.
    pub fn admit(&self, account: &str, address: IpAddr) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let address = address_key(address);
        let wait = [
            self.accounts.wait(&account.to_owned(), now),
            self.addresses.wait(&address, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(RetryAfter(wait));
        }
        if self.attempts.len() >= MAX_ENTRIES {
            self.attempts.retain_recent();
        }
        self.attempts.check_key(&address).map_err(|not_until| {
            RetryAfter(not_until.wait_time_from(governor::clock::Clock::now(self.attempts.clock())))
        })
    }

    /// Counts a wrong password; the wait before the next attempt, when there is one now.
    pub fn failed(&self, account: &str, address: IpAddr) -> Option<RetryAfter> {
        let now = Instant::now();
        let by_account = self.accounts.fail(account.to_owned(), now);
        let by_address = self.addresses.fail(address_key(address), now);
        by_account.max(by_address).map(RetryAfter)
    }

    /// The right password: the account starts afresh.
    pub fn succeeded(&self, account: &str) {
        self.accounts.clear(&account.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        assert_eq!(delay_after(5, 5), Duration::ZERO);
        assert_eq!(delay_after(6, 5), Duration::from_secs(1));
        assert_eq!(delay_after(7, 5), Duration::from_secs(2));
        assert_eq!(delay_after(10, 5), Duration::from_secs(16));
        assert_eq!(delay_after(40, 5), MAX_DELAY);
        assert_eq!(delay_after(u32::MAX, 5), MAX_DELAY);
    }

    #[test]
    fn an_account_waits_after_its_free_failures_and_a_success_clears_them() {
        let throttle = LoginThrottle::default();
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ACCOUNT_FREE_FAILURES {
            assert!(throttle.admit("ana@shop.tw", here).is_ok());
            assert_eq!(throttle.failed("ana@shop.tw", here), None);
        }
        assert!(throttle.admit("ana@shop.tw", here).is_ok());
        let wait = throttle.failed("ana@shop.tw", here).unwrap();
        assert_eq!(wait.seconds(), 1);
        assert!(throttle.admit("ana@shop.tw", here).is_err());
        // Another account from another address is not held up by Ana's.
        assert!(
            throttle
                .admit("lin@farm.tw", "192.0.2.2".parse().unwrap())
                .is_ok()
        );
        throttle.succeeded("ana@shop.tw");
        assert!(throttle.admit("ana@shop.tw", here).is_ok());
    }

    #[test]
    fn an_address_waits_after_its_free_failures_over_any_accounts() {
        let throttle = LoginThrottle::default();
        let here: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        for i in 0..ADDRESS_FREE_FAILURES {
            assert_eq!(throttle.failed(&format!("guess{i}@x.tw"), here), None);
        }
        assert!(throttle.failed("one-more@x.tw", here).is_some());
        assert!(
            throttle.admit("fresh@x.tw", neighbour).is_err(),
            "the same /64"
        );
        assert!(
            throttle
                .admit("fresh@x.tw", "2001:db8:1::1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn one_address_gets_a_burst_of_checked_attempts_then_one_every_few_seconds() {
        let throttle = LoginThrottle::default();
        let here: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..ATTEMPT_BURST {
            assert!(throttle.admit("ana@shop.tw", here).is_ok());
        }
        let refused = throttle.admit("ana@shop.tw", here).unwrap_err();
        assert!((1..=ATTEMPT_PERIOD_SECS).contains(&refused.seconds()));
    }
}
