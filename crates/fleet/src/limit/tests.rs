//! The AIMD rule as a table, and the shared limit under many tasks. The tasks run on a
//! current-thread runtime: between a permit's arrival and the count of what is in flight there
//! is no await, so the count is exact without any timing.

use std::cell::Cell;
use std::rc::Rc;

use super::*;

#[test]
fn aimd_halves_on_throttling_and_climbs_one_window_at_a_time() {
    enum Step {
        Ok(usize),
        Throttled,
    }
    use Step::{Ok, Throttled};
    // (start, min, max, steps, limit after each step)
    let table = [
        (
            8,
            1,
            16,
            vec![Throttled, Throttled, Throttled, Throttled],
            vec![4, 2, 1, 1],
        ),
        (8, 3, 16, vec![Throttled, Throttled], vec![4, 3]),
        // 4 successes at 4 make 5, then 5 at 5 make 6.
        (4, 1, 16, vec![Ok(3), Ok(1), Ok(4), Ok(1)], vec![4, 5, 5, 6]),
        (7, 1, 8, vec![Ok(7), Ok(100)], vec![8, 8]),
        // A throttled answer starts the window anew.
        (4, 1, 16, vec![Ok(3), Throttled, Ok(1), Ok(1)], vec![4, 2, 2, 3]),
        (1, 1, 2, vec![Ok(1), Throttled, Ok(1)], vec![2, 1, 2]),
    ];
    for (start, min, max, steps, want) in table {
        let mut aimd = Aimd::new(start, min, max);
        let mut got = Vec::new();
        for step in &steps {
            match step {
                Ok(n) => (0..*n).for_each(|_| aimd.succeeded()),
                Throttled => aimd.throttled(),
            }
            got.push(aimd.limit());
        }
        assert_eq!(got, want, "start {start}, min {min}, max {max}");
    }
}

#[test]
fn aimd_bounds_are_sane_whatever_is_given() {
    let table = [
        ((0, 0, 0), (1, 1, 1)),
        ((50, 1, 32), (32, 1, 32)),
        ((1, 4, 32), (4, 4, 32)),
        ((8, 16, 4), (16, 16, 16)),
    ];
    for ((start, min, max), want) in table {
        let a = Aimd::new(start, min, max);
        assert_eq!((a.limit(), a.min(), a.max()), want, "{start} {min} {max}");
    }
}

/// Runs `tasks` tasks that each take a permit, yield `hold` times, and release it as
/// `throttled(i)` says. Returns the most ever in flight, after checking at every start that
/// it is within the limit of that moment.
async fn run(limit: &AdaptiveLimit, tasks: usize, hold: usize, throttled: impl Fn(usize) -> bool) -> usize {
    let in_flight = Rc::new(Cell::new(0usize));
    let most = Rc::new(Cell::new(0usize));
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (limit, in_flight, most) = (limit.clone(), Rc::clone(&in_flight), Rc::clone(&most));
        let throttle = throttled(i);
        handles.push(local.spawn_local(async move {
            let permit = limit.acquire().await;
            in_flight.set(in_flight.get() + 1);
            assert!(
                in_flight.get() <= limit.limit(),
                "task {i} started with {} in flight, over the limit {}",
                in_flight.get(),
                limit.limit()
            );
            assert_eq!(limit.in_flight(), in_flight.get());
            most.set(most.get().max(in_flight.get()));
            for _ in 0..hold {
                tokio::task::yield_now().await;
            }
            in_flight.set(in_flight.get() - 1);
            if throttle {
                permit.throttled();
            } else {
                drop(permit);
            }
        }));
    }
    local
        .run_until(async {
            for handle in handles {
                // A task's failed assertion fails the test.
                if let Err(e) = handle.await {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        })
        .await;
    assert_eq!(limit.in_flight(), 0);
    most.get()
}

#[tokio::test(flavor = "current_thread")]
async fn many_tasks_never_exceed_the_limit() {
    let limit = AdaptiveLimit::new(Aimd::new(8, 1, 8));
    let most = run(&limit, 200, 3, |_| false).await;
    assert_eq!(most, 8, "the limit is used in full, never passed");
    assert_eq!(limit.limit(), 8);
}

#[tokio::test(flavor = "current_thread")]
async fn throttled_permits_lower_the_limit_while_others_wait() {
    let limit = AdaptiveLimit::new(Aimd::new(16, 2, 16));
    // The first 16 start at once and are all throttled; 100 more wait behind them.
    let most = run(&limit, 116, 5, |i| i < 16).await;
    assert_eq!(most, 16);
    // 16 halvings from 16 end at the minimum, 2; the 100 successes after climb back by
    // windows: 2+3+4+5+6+7+8+9+10+11+12+13 = 90 successes reach 14, and 10 more do not make 15.
    assert_eq!(limit.limit(), 14);
    assert_eq!(run(&limit, 1, 0, |_| true).await, 1);
    assert_eq!(limit.limit(), 7);
}

#[tokio::test(flavor = "current_thread")]
async fn after_throttling_fewer_run_at_once() {
    let limit = AdaptiveLimit::new(Aimd::new(32, 1, 32));
    let throttled: Vec<Permit> = {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(limit.acquire().await);
        }
        held
    };
    for p in throttled {
        p.throttled();
    }
    assert_eq!(limit.limit(), 2);
    // The successes raise it again, one window at a time, never past what the run shows.
    let most = run(&limit, 10, 4, |_| false).await;
    // 2 successes make 3, 3 more make 4, 4 more make 5: never more than 5 at once.
    assert!(
        most <= 5,
        "at most 5 in flight after falling to 2 with 10 successes, saw {most}"
    );
    assert_eq!(limit.limit(), 5);
}

#[tokio::test(flavor = "current_thread")]
async fn a_limit_that_falls_below_what_is_in_flight_admits_none_until_it_is_below() {
    let limit = AdaptiveLimit::new(Aimd::new(4, 1, 4));
    let a = limit.acquire().await;
    let b = limit.acquire().await;
    let c = limit.acquire().await;
    let d = limit.acquire().await;
    a.throttled(); // 4 -> 2, with 3 still in flight
    assert_eq!((limit.limit(), limit.in_flight()), (2, 3));
    let waiting = {
        let limit = limit.clone();
        tokio::spawn(async move { limit.acquire().await })
    };
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "3 in flight over a limit of 2: no new start");
    drop(b); // success; 2 in flight, still not below 2
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "2 in flight at a limit of 2: no new start");
    drop(c); // the second success at 2 makes 3
    let e = waiting
        .await
        .expect("the waiting task starts once fewer than the limit run");
    assert_eq!((limit.limit(), limit.in_flight()), (3, 2));
    drop((d, e));
    assert_eq!(limit.in_flight(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_limit_that_falls_while_permits_are_idle_takes_them_back() {
    let limit = AdaptiveLimit::new(Aimd::new(8, 1, 8));
    limit.acquire().await.throttled(); // 8 -> 4 with 7 permits idle
    assert_eq!((limit.limit(), limit.in_flight()), (4, 0));
    // `run` checks every start against the limit of the moment: 4 then climbing.
    let most = run(&limit, 12, 3, |_| false).await;
    // 4 successes make 5, 5 more make 6.
    assert!((4..=6).contains(&most), "{most}");
    assert_eq!(limit.limit(), 6);
}
