//! Raw cost of one password verification, outside any server.
//!
//! Run with `cargo bench -p pow-core --bench hash`. Times, on the calling thread:
//!
//! - `pbkdf2_verify`: [`Pbkdf2Hasher::default`] (PBKDF2-SHA512, 210 000 iterations)
//!   verifying a correct password;
//! - `argon2id_verify`: [`Argon2Hasher::default`] (Argon2id, 19 MiB, 2 passes) verifying a
//!   correct password, as pow-core does it (PHC parsing, per-thread working memory);
//! - `argon2id_reused_memory` and `argon2id_fresh_memory`: the bare `argon2` crate with the
//!   same parameters, once with one working buffer kept across calls
//!   (`hash_password_into_with_memory`) and once allocating it on every call
//!   (`hash_password_into`). The two alternate call by call, so drifting load on the
//!   machine hits both alike.
//!
//! Each variant first runs `BENCH_HASH_WARMUP` untimed calls (default 3), then
//! `BENCH_HASH_RUNS` timed ones (default 30); run as a test (`cargo test --benches`, no
//! `--bench` argument), one timed call each. Besides a readable report, every figure is
//! printed on a line `result hash.<variant>.<stat> <value>` for scripts.

// A benchmark aborts loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use pow_core::password::{Argon2Hasher, PasswordHasher, Pbkdf2Hasher};

const PASSWORD: &str = "correct horse battery staple";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds of each timed call.
struct Samples(Vec<f64>);

impl Samples {
    fn time(&mut self, f: impl FnOnce()) {
        let started = Instant::now();
        f();
        self.0.push(started.elapsed().as_secs_f64() * 1e3);
    }

    /// The `p`-th percentile (nearest rank), in ms.
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len() as f64
    }

    fn report(&self, name: &str, what: &str) {
        let (p50, p99, mean) = (self.percentile(50.0), self.percentile(99.0), self.mean());
        println!(
            "{name:<24} p50 {p50:>8.2} ms   p99 {p99:>8.2} ms   mean {mean:>8.2} ms   \
             ({} runs; {what})",
            self.0.len()
        );
        println!("result hash.{name}.p50_ms {p50:.3}");
        println!("result hash.{name}.p99_ms {p99:.3}");
        println!("result hash.{name}.mean_ms {mean:.3}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) one call per
    // variant checks that everything runs.
    let full = std::env::args().any(|arg| arg == "--bench");
    let warmup = if full {
        env_or("BENCH_HASH_WARMUP", 3)
    } else {
        0
    };
    let runs = if full {
        env_or("BENCH_HASH_RUNS", 30).max(1)
    } else {
        1
    };

    let pbkdf2 = Pbkdf2Hasher::default();
    let pbkdf2_hash = pbkdf2.hash(PASSWORD).unwrap();
    let mut samples = Samples(Vec::with_capacity(runs));
    for i in 0..warmup + runs {
        let verify = || assert!(pbkdf2.verify(black_box(PASSWORD), &pbkdf2_hash).unwrap());
        if i < warmup {
            verify();
        } else {
            samples.time(verify);
        }
    }
    samples.report("pbkdf2_verify", "PBKDF2-SHA512, 210 000 iterations");

    let argon = Argon2Hasher::default();
    let argon_hash = argon.hash(PASSWORD).unwrap();
    let mut samples = Samples(Vec::with_capacity(runs));
    for i in 0..warmup + runs {
        let verify = || assert!(argon.verify(black_box(PASSWORD), &argon_hash).unwrap());
        if i < warmup {
            verify();
        } else {
            samples.time(verify);
        }
    }
    let params = argon.params().clone();
    samples.report(
        "argon2id_verify",
        &format!(
            "pow-core Argon2Hasher, m={} KiB, t={}, p={}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ),
    );

    // The bare crate, same parameters: a buffer kept across calls against a fresh one.
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = *b"sixteen byte slt";
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut blocks = vec![Block::default(); params.block_count()];
    let mut reused = Samples(Vec::with_capacity(runs));
    let mut fresh = Samples(Vec::with_capacity(runs));
    // The very first fresh buffer comes straight from the OS (page faults on first touch);
    // later ones usually reuse memory the allocator kept from the previous call.
    let mut first_fresh = None;
    for i in 0..warmup + runs {
        // Alternate which variant goes first.
        for reuse in [i % 2 == 0, i % 2 != 0] {
            let started = Instant::now();
            if reuse {
                argon2
                    .hash_password_into_with_memory(
                        black_box(PASSWORD.as_bytes()),
                        &salt,
                        &mut out,
                        &mut blocks,
                    )
                    .unwrap();
            } else {
                argon2
                    .hash_password_into(black_box(PASSWORD.as_bytes()), &salt, &mut out)
                    .unwrap();
            }
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if !reuse && first_fresh.is_none() {
                first_fresh = Some(ms);
            }
            if i >= warmup {
                if reuse { &mut reused } else { &mut fresh }.0.push(ms);
            }
        }
    }
    black_box(&out);
    reused.report(
        "argon2id_reused_memory",
        "argon2 crate, hash_password_into_with_memory, one buffer for all calls",
    );
    fresh.report(
        "argon2id_fresh_memory",
        "argon2 crate, hash_password_into, a new buffer per call",
    );
    let gain = fresh.percentile(50.0) - reused.percentile(50.0);
    println!(
        "reusing the working memory saves {gain:.2} ms per Argon2id call ({:.1}% of a fresh call)",
        100.0 * gain / fresh.percentile(50.0)
    );
    println!("result hash.argon2id_reuse_gain_ms {gain:.3}");
    if let Some(first) = first_fresh {
        println!("the first fresh-buffer call took {first:.2} ms");
        println!("result hash.argon2id_fresh_memory.first_call_ms {first:.3}");
    }
}
