//! Host-allocated linear memories that a test can read after a call, to prove what the guest
//! does (and does not) hold. Used instead of the pooling allocator in those tests only.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

const WASM_PAGE: usize = 64 * 1024;

struct Region {
    ptr: *mut u8,
    capacity: usize,
    len: AtomicUsize,
}

// SAFETY: the region is a plain heap allocation; wasmtime serialises access to it.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new_memory` with this exact layout.
        unsafe {
            dealloc(
                self.ptr,
                Layout::from_size_align_unchecked(self.capacity, WASM_PAGE),
            )
        }
    }
}

struct HostMemory(Arc<Region>);

// SAFETY: the allocation never moves (capacity is reserved up front) and grows only within it;
// it starts zeroed and never shrinks, so grown pages are zero as wasm requires.
unsafe impl LinearMemory for HostMemory {
    fn byte_size(&self) -> usize {
        self.0.len.load(Ordering::SeqCst)
    }
    fn byte_capacity(&self) -> usize {
        self.0.capacity
    }
    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.0.capacity {
            wasmtime::bail!("memory limit of {} bytes reached", self.0.capacity);
        }
        self.0.len.store(new_size, Ordering::SeqCst);
        Ok(())
    }
    fn as_ptr(&self) -> *mut u8 {
        self.0.ptr
    }
}

/// Creates memories of at most `capacity` bytes and remembers them for inspection.
pub struct InspectableMemories {
    capacity: usize,
    regions: Mutex<Vec<Arc<Region>>>,
}

impl InspectableMemories {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.next_multiple_of(WASM_PAGE),
            regions: Mutex::default(),
        })
    }

    /// Whether `needle` occurs anywhere in any memory created so far. Call it only while no
    /// guest code runs.
    pub fn contains(&self, needle: &[u8]) -> bool {
        let regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        regions.iter().any(|r| {
            let len = r.len.load(Ordering::SeqCst);
            // SAFETY: `len` bytes from `ptr` are allocated and initialised; no guest is running.
            let bytes = unsafe { std::slice::from_raw_parts(r.ptr, len) };
            !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle)
        })
    }

    /// Number of memories created.
    pub fn count(&self) -> usize {
        self.regions.lock().map(|r| r.len()).unwrap_or(0)
    }
}

// SAFETY: see `HostMemory`; no guard region is promised, so the engine must be configured
// with `memory_guard_size(0)` and `memory_reservation(0)` (the runtime does this).
unsafe impl MemoryCreator for InspectableMemories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        _reserved: Option<usize>,
        guard: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if guard != 0 {
            return Err("inspectable memories have no guard region".into());
        }
        let capacity = maximum
            .unwrap_or(self.capacity)
            .min(self.capacity)
            .max(minimum);
        let capacity = capacity.next_multiple_of(WASM_PAGE).max(WASM_PAGE);
        let layout = Layout::from_size_align(capacity, WASM_PAGE).map_err(|e| e.to_string())?;
        // SAFETY: non-zero size, valid alignment.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err("out of memory".into());
        }
        let region = Arc::new(Region {
            ptr,
            capacity,
            len: AtomicUsize::new(minimum),
        });
        self.regions
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .push(region.clone());
        Ok(Box::new(HostMemory(region)))
    }
}
