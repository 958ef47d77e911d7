//! JSON encoding of response bodies: sonic-rs (what ringbolt uses) against serde_json, for
//! the seed dict and a 3.5 KiB document. `cargo bench --bench json`

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

// The values the benchmark routes encode (`/json`, `/bigjson`), shared by source.
#[path = "routes/mod.rs"]
mod routes;

use routes::{BigJson, Greeting};

fn encode(c: &mut Criterion) {
    let small = Greeting::seed();
    let big = BigJson::seed();
    let big_len = sonic_rs::to_vec(&big).unwrap().len();
    assert_eq!(
        sonic_rs::to_vec(&big).unwrap(),
        serde_json::to_vec(&big).unwrap()
    );

    let mut g = c.benchmark_group("json_seed_dict");
    g.throughput(Throughput::Bytes(
        sonic_rs::to_vec(&small).unwrap().len() as u64
    ));
    g.bench_function("sonic_rs", |b| {
        b.iter(|| sonic_rs::to_vec(black_box(&small)).unwrap())
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&small)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("json_3_5k");
    g.throughput(Throughput::Bytes(big_len as u64));
    g.bench_function("sonic_rs", |b| {
        b.iter(|| sonic_rs::to_vec(black_box(&big)).unwrap())
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&big)).unwrap())
    });
    g.bench_function("sonic_rs_presized", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(big_len.next_power_of_two());
            sonic_rs::to_writer(&mut out, black_box(&big)).unwrap();
            out
        })
    });
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
