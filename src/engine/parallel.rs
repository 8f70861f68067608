//! Work spread over the CPU cores: a batch's frames are letterboxed (CPU path) or packed
//! into staging memory (GPU path) in parallel, since the batch thread waits for them anyway.

/// Runs `work(item, out)` for each pair, the pairs spread over the CPU cores; results in
/// order, or the first error.
pub fn spread_over_cores<T: Sync, O: Send, R: Send>(
    items: &[T],
    outs: &mut [O],
    work: impl Fn(&T, &mut O) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    spread_over_cores_with(items, outs, &mut Vec::<()>::new(), |item, out, _| work(item, out))
}

/// `spread_over_cores` where each worker also gets a scratch value of its own from
/// `scratch` (grown to one per worker), kept by the caller for the next batch.
pub fn spread_over_cores_with<T: Sync, O: Send, S: Send + Default, R: Send>(
    items: &[T],
    outs: &mut [O],
    scratch: &mut Vec<S>,
    work: impl Fn(&T, &mut O, &mut S) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).max(1);
    if scratch.len() < workers {
        scratch.resize_with(workers, S::default);
    }
    if workers == 1 {
        let own = &mut scratch[0];
        return items.iter().zip(outs).map(|(item, out)| work(item, out, own)).collect();
    }
    let per_worker = items.len().div_ceil(workers);
    let work = &work;
    let results: Vec<Result<Vec<R>, String>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = items
            .chunks(per_worker)
            .zip(outs.chunks_mut(per_worker))
            .zip(scratch.iter_mut())
            .map(|((items, outs), own)| {
                scope.spawn(move || items.iter().zip(outs).map(|(item, out)| work(item, out, own)).collect())
            })
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap_or_else(|_| Err("a worker thread panicked".into()))).collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_and_errors_surface() {
        let items: Vec<usize> = (0..37).collect();
        let mut outs = vec![0usize; 37];
        let results = spread_over_cores(&items, &mut outs, |i, o| {
            *o = i * 2;
            Ok(i + 1)
        })
        .unwrap();
        assert_eq!(results, (1..=37).collect::<Vec<_>>());
        assert_eq!(outs, (0..37).map(|i| i * 2).collect::<Vec<_>>());
        let err = spread_over_cores(&items, &mut outs, |i, _| if *i == 20 { Err("twenty".to_string()) } else { Ok(()) });
        assert_eq!(err, Err("twenty".to_string()));
    }
}
