//! Every wait longer than a second says on stderr what it waits for and until when, with or
//! without `-v`: the client's retries and its wait for an answer ([`Say`]), the
//! state's lock ([`after_a_second`]). Plain lines: they read the same in CI and on a terminal,
//! where the per-region progress display of apply shows the executor's own waits.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use pai_apply::client::{WaitKind, Waiting};

/// `11:42:07 UTC`: a wait is at most minutes long, the date goes without saying.
pub fn clock(at: SystemTime) -> String {
    let full = humantime::format_rfc3339_seconds(at).to_string();
    let time = full.get(11..19).unwrap_or(&full);
    format!("{time} UTC")
}

/// The line for a wait of the client.
pub fn client_wait_line(w: &Waiting) -> String {
    match &w.kind {
        WaitKind::Retry {
            error,
            next_attempt,
            at,
            gives_up_at,
            ..
        } => format!(
            "waiting: {} in {} failed ({error}); retrying (attempt {next_attempt} at {}), until {} at the latest",
            w.action,
            w.region,
            clock(*at),
            clock(*gives_up_at)
        ),
        WaitKind::Answer { gives_up_at } => format!(
            "waiting: {} in {} sent to {}, no answer yet; waiting until {} at the latest",
            w.action,
            w.region,
            w.host,
            clock(*gives_up_at)
        ),
    }
}

/// Where the client's waits are said: plain lines on stderr, or above apply's per-region
/// progress display while it is drawn (a plain `eprintln!` would tear it).
#[derive(Debug, Clone, Default)]
pub struct Say {
    display: Arc<Mutex<Option<indicatif::MultiProgress>>>,
}

impl Say {
    /// Says the lines above `display` until [`Say::detach`].
    pub fn attach(&self, display: indicatif::MultiProgress) {
        *self.display.lock().unwrap_or_else(|p| p.into_inner()) = Some(display);
    }

    pub fn detach(&self) {
        *self.display.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn client_wait(&self, w: &Waiting) {
        self.line(&client_wait_line(w));
    }

    fn line(&self, line: &str) {
        let display = self.display.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match display {
            Some(display) if display.println(line).is_ok() => {}
            _ => note!("{line}"),
        }
    }
}

/// Says `what` on stderr if the guard it returns is still alive a second from now: for a
/// blocking wait (the state's lock) that usually takes no time at all.
pub fn after_a_second(what: String) -> Announcer {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(1)) {
            note!("{what}");
        }
    });
    Announcer { _done: done }
}

/// Dropping it ends the wait quietly (the sender's drop wakes the thread).
pub struct Announcer {
    _done: mpsc::Sender<()>,
}

#[cfg(test)]
mod tests {
    use pai_spec::Region;

    use super::*;

    /// 2026-11-30 at `h:m:s` UTC.
    fn at(h: u64, m: u64, s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_996_800 + h * 3600 + m * 60 + s)
    }

    #[test]
    fn each_wait_says_what_and_until_when() {
        let region = Region::parse("cn-hangzhou").unwrap();
        let retry = Waiting {
            action: "ListProducts",
            region: region.clone(),
            host: "127.0.0.1:9".into(),
            kind: WaitKind::Retry {
                error: "connection refused".into(),
                throttled: false,
                next_attempt: 2,
                at: at(11, 0, 1),
                gives_up_at: at(11, 1, 0),
            },
        };
        assert_eq!(
            client_wait_line(&retry),
            "waiting: ListProducts in cn-hangzhou failed (connection refused); retrying (attempt 2 at 11:00:01 \
             UTC), until 11:01:00 UTC at the latest"
        );
        let answer = Waiting {
            action: "CreateProductOrders",
            region,
            host: "aiworkspace.cn-hangzhou.aliyuncs.com".into(),
            kind: WaitKind::Answer {
                gives_up_at: at(3, 0, 30),
            },
        };
        assert_eq!(
            client_wait_line(&answer),
            "waiting: CreateProductOrders in cn-hangzhou sent to aiworkspace.cn-hangzhou.aliyuncs.com, no answer \
             yet; waiting until 03:00:30 UTC at the latest"
        );
    }
}
