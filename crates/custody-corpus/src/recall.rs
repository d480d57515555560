//! Recall measurement: which planted values are still recoverable from a tool's
//! output, in any of their [`search_forms`], and a per-kind
//! summary of the result.

use std::collections::BTreeMap;
use std::io::Read;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;

use crate::plant::{Plant, search_forms};

/// Why a recall check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecallError {
    /// Reading the output under test failed.
    #[error("reading the output under test failed")]
    Read(#[source] std::io::Error),
    /// The search automaton could not be built from the plants.
    #[error("building the search automaton failed")]
    Build(#[source] aho_corasick::BuildError),
}

/// Size of the blocks an output is read in.
const BLOCK: usize = 8 << 20;

/// For each plant, whether any of its forms still occurs in `output` (streamed in
/// blocks with an overlap, so memory stays bounded).
///
/// # Errors
///
/// [`RecallError::Read`] on an I/O error, [`RecallError::Build`] if the patterns
/// cannot be compiled.
pub fn remaining<R: Read>(plants: &[Plant], mut output: R) -> Result<Vec<bool>, RecallError> {
    let mut patterns = Vec::new();
    let mut owner = Vec::new();
    for (i, plant) in plants.iter().enumerate() {
        for form in search_forms(plant.expose_value()) {
            patterns.push(form);
            owner.push(i);
        }
    }
    let mut found = vec![false; plants.len()];
    if patterns.is_empty() {
        return Ok(found);
    }
    let longest = patterns.iter().map(String::len).max().unwrap_or(1);
    let automaton = AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .map_err(RecallError::Build)?;
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + longest);
    let mut chunk = vec![0_u8; BLOCK];
    loop {
        let n = output.read(&mut chunk).map_err(RecallError::Read)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        for m in automaton.find_overlapping_iter(buf.as_slice()) {
            if let Some(slot) = owner
                .get(m.pattern().as_usize())
                .and_then(|&i| found.get_mut(i))
            {
                *slot = true;
            }
        }
        // Keep the tail that a match may still straddle.
        let keep = longest.saturating_sub(1).min(buf.len());
        let cut = buf.len() - keep;
        buf.drain(..cut);
    }
    Ok(found)
}

/// Recall of one kind (or of all plants).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindScore {
    /// Plants of this kind.
    pub planted: u64,
    /// Plants of this kind the tool caught (detected or removed).
    pub caught: u64,
}

/// A recall summary: totals and per-kind scores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecallSummary {
    /// All plants.
    pub total: KindScore,
    /// Per plant kind id.
    pub by_kind: BTreeMap<String, KindScore>,
}

/// Summarises per-plant outcomes (`caught[i]` for `plants[i]`).
pub fn summarize(plants: &[Plant], caught: &[bool]) -> RecallSummary {
    let mut summary = RecallSummary::default();
    for (plant, &hit) in plants.iter().zip(caught) {
        let score = summary
            .by_kind
            .entry(plant.kind().as_str().to_owned())
            .or_default();
        score.planted += 1;
        summary.total.planted += 1;
        if hit {
            score.caught += 1;
            summary.total.caught += 1;
        }
    }
    summary
}
