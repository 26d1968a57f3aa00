//! Clocks: the wall clock agrees with the host's (the test passes the host's time in `HOST_NOW`,
//! seconds since the epoch), the monotonic clock never goes back, and a sleep (`poll_oneoff`)
//! lasts at least as long as asked.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, thread};

fn main() {
    wall_clock();
    monotonic_clock();
    sleep();
    println!("clocks: done");
}

fn wall_clock() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let host: f64 = env::var("HOST_NOW")
        .expect("HOST_NOW")
        .parse()
        .expect("HOST_NOW is a number");
    println!(
        "wall clock within 60 s of the host's: {}",
        (now - host).abs() < 60.0
    );
    println!(
        "wall clock has sub-second digits: {}",
        now.fract() != 0.0 || now_nanos() != 0
    );
}

fn now_nanos() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos()
}

fn monotonic_clock() {
    let start = Instant::now();
    let mut last = start;
    let mut backwards = 0;
    for _ in 0..10_000 {
        let now = Instant::now();
        backwards += usize::from(now < last);
        last = now;
    }
    println!("monotonic clock went backwards {backwards} times in 10000 reads");
}

fn sleep() {
    let start = Instant::now();
    thread::sleep(Duration::from_millis(50));
    let slept = start.elapsed();
    println!(
        "sleep(50 ms) took at least 50 ms: {}",
        slept >= Duration::from_millis(50)
    );
    println!(
        "sleep(50 ms) took under 5 s: {}",
        slept < Duration::from_secs(5)
    );
}
