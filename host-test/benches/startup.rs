//! What a CLI command pays before it can call the plugin: making the `Runtime`, which compiles
//! the component with Cranelift, or loads what an earlier process compiled (the compiled cache
//! in the state directory).

use criterion::{Criterion, criterion_group, criterion_main};
use host_test::runtime::{Runtime, RuntimeOptions};

fn startup(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kw-bench-compiled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = host_test::component_bytes();
    let mut g = c.benchmark_group("runtime_new");
    g.sample_size(10);
    g.bench_function("compile", |b| {
        b.iter(|| Runtime::new(bytes, RuntimeOptions::default()).unwrap())
    });
    let cached = || RuntimeOptions {
        compiled_cache: Some(host_test::runtime::CompiledCache::new(
            dir.clone(),
            b"bench salt",
        )),
        ..RuntimeOptions::default()
    };
    // The first process compiles and writes the cache; every later one reads it.
    drop(Runtime::new(bytes, cached()).unwrap());
    g.bench_function("from_cache", |b| {
        b.iter(|| Runtime::new(bytes, cached()).unwrap())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, startup);
criterion_main!(benches);
