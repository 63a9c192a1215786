//! The differential run: pseudo-random images (`generate.rs`) listed by the reference and by
//! ours, and the deliberate differences (docs/differences.md) a mismatching image may trigger.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kpartx::testkit::Sparse;
use kpartx::testkit::bytes::{get_le32, get_le64};

use crate::churn::Churn;
use crate::generate::{bases, generate};
use crate::harness::{Bench, SERIAL, Verdict, environment, render_diff, skip};
use crate::json::check_json;

/// Deliberate differences (docs/differences.md) an image triggers, if any (then a mismatch is
/// expected).
fn hardening(img: &Sparse) -> Vec<String> {
    let mut found = Vec::new();
    let sectors = img.size / 512;
    let mut header_lbas = vec![1, img.last_lba()];
    let primary = img.read(512, 512);
    if &primary[0..8] == b"EFI PART" {
        header_lbas.push(get_le64(&primary, 32));
    }
    for lba in header_lbas {
        let Some(at) = lba.checked_mul(512).filter(|&a| a < img.size) else {
            continue;
        };
        let h = img.read(at, 512);
        if &h[0..8] != b"EFI PART" {
            continue;
        }
        let hs = get_le32(&h, 12);
        if !(92..=512).contains(&hs) {
            found.push(format!(
                "GPT header at {lba}: header_size {hs} outside 92..=512"
            ));
        }
        let num = u64::from(get_le32(&h, 80));
        let end = get_le64(&h, 72)
            .checked_mul(512)
            .and_then(|s| s.checked_add(num * 128));
        if num > 1 << 20 || end.is_none_or(|e| e > sectors * 512) {
            found.push(format!(
                "GPT header at {lba}: entry array not inside the device"
            ));
        }
    }
    // DOS: the reference reads EBRs with a 32-bit block number, so a chain that links beyond
    // 2^32 sectors wraps around to the start of the disk (dos.rs: "the reference's 32-bit wrap
    // above 2 TiB is not reproduced").
    if let Some(here) = dos_chain_wraps(img) {
        found.push(format!("DOS: EBR chain reaches block {here} (>= 2^32)"));
    }
    // Mac: 32-bit products in the reference.
    let b0 = img.read(0, 512);
    if b0[0..2] == [0x45, 0x52] {
        let bs = u64::from(u16::from_be_bytes([b0[2], b0[3]]));
        let scale = bs / 512;
        for k in 1..=256u64 {
            let e = img.read(k * bs, 16);
            if e[0..2] != [0x50, 0x4D] || bs == 0 {
                break;
            }
            let start = u64::from(u32::from_be_bytes(e[8..12].try_into().expect("4")));
            let count = u64::from(u32::from_be_bytes(e[12..16].try_into().expect("4")));
            if start * scale > u64::from(u32::MAX) || count * scale > u64::from(u32::MAX) {
                found.push("mac: 32-bit start/size overflow".into());
                break;
            }
        }
    }
    // DASD: saturating instead of wrapping arithmetic.
    let label = img.read(1024, 512);
    match label[4..8] {
        [0xC3, 0xD4, 0xE2, 0xF1] => {
            let w = |n: usize| u64::from(get_le32(&label, 4 * n));
            let scale = w(4) / 512;
            let (offset, blocks) = match w(14) {
                0 => (3, w(8)),
                r => (r, w(8).wrapping_sub(1)),
            };
            if blocks * scale < offset * scale {
                found.push("dasd CMS1: size below start".into());
            }
        }
        [0xD3, 0xD5, 0xE7, 0xF1] if label[83] == 0xF2 && get_le64(&label, 84) < 3 => {
            found.push("dasd LNX1: formatted size below start".into());
        }
        _ => {}
    }
    found
}

/// Follows the EBR chains the way the reference does (64-bit block numbers, 32-bit reads) and
/// returns the first block number that does not fit in 32 bits, if any.
fn dos_chain_wraps(img: &Sparse) -> Option<u64> {
    let signed = |b: &[u8]| b[510] == 0x55 && b[511] == 0xAA;
    let extended = |kind: u8| matches!(kind, 0x05 | 0x0f | 0x85);
    let mbr = img.read(0, 512);
    if !signed(&mbr) || (0..4).any(|i| mbr[0x1BE + 16 * i + 4] == 0xEE) {
        return None;
    }
    for i in 0..4 {
        let e = &mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)];
        if !extended(e[4]) {
            continue;
        }
        let base = u64::from(get_le32(e, 8));
        let mut next = Some(base);
        for _ in 0..1000 {
            let Some(here) = next.take() else { break };
            if here > u64::from(u32::MAX) {
                return Some(here);
            }
            let ebr = img.read(here * 512, 512);
            if !signed(&ebr) {
                break;
            }
            for slot in 0..2 {
                let e = &ebr[0x1BE + 16 * slot..0x1BE + 16 * (slot + 1)];
                let (start, count) = (get_le32(e, 8), get_le32(e, 12));
                if extended(e[4]) && start != 0 && count != 0 && next.is_none() {
                    next = Some(base + u64::from(start));
                }
            }
        }
    }
    None
}

/// A `u64` from the environment (decimal or `0x` hex).
fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The body of the `differential_random_images` test.
pub fn differential_random_images() {
    let tools = match environment() {
        Ok(t) => t,
        Err(why) => return skip("differential_random_images", &why),
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let churn = Churn::from_env(&tools.losetup);
    let started = Instant::now();
    let seed = env_u64("KPARTX_DIFF_SEED").unwrap_or(0x6B70_6172_7478_0000);
    let cases = env_u64("KPARTX_DIFF_CASES").unwrap_or(150);
    let budget = Duration::from_secs(env_u64("KPARTX_DIFF_SECONDS").unwrap_or(50));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical tempdir");
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("list-differential");
    let bases = bases(&tools, &dir);
    let mut bench = Bench::new(&tools, &dir);
    let mut failures = Vec::new();
    let mut known = 0;
    let mut hung = 0;
    let mut ran = 0;
    let mut families: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed = 0;
    for i in 0..cases {
        if started.elapsed() > budget {
            eprintln!("differential: time budget used up after {ran} cases");
            break;
        }
        let case_seed = seed.wrapping_add(i);
        let g = generate(case_seed, &bases);
        ran += 1;
        *families.entry(g.family).or_default() += 1;
        let path = dir.join("case.img");
        g.image.save(&path);
        let mut args: Vec<OsString> = g.options.iter().map(OsString::from).collect();
        args.push(path.clone().into());
        let label = format!("seed {case_seed:#x}");
        match bench.compare(&label, &args) {
            Verdict::Same(ours) => {
                if !ours.stdout.is_empty() {
                    listed += 1;
                }
                if ours.status.code() == Some(0)
                    && let Err(e) = check_json(&args, &ours.stdout, &tools.losetup, &dir)
                {
                    failures.push(format!(
                        "seed {case_seed:#x} ({}): --json: {e}\n    notes: {}",
                        g.family,
                        g.notes.join("; ")
                    ));
                }
            }
            Verdict::ReferenceHung => {
                hung += 1;
                eprintln!(
                    "differential: seed {case_seed:#x} ({}): the reference hung; not compared",
                    g.family
                );
            }
            Verdict::Differ { reference, ours } => {
                let why = hardening(&g.image);
                let _ = fs::create_dir_all(&keep);
                let kept = keep.join(format!("{case_seed:#x}.img"));
                let _ = fs::copy(&path, &kept);
                let text = format!(
                    "seed {case_seed:#x} (family {}): kpartx {}\n    reproduce: \
                     KPARTX_DIFF_SEED={case_seed:#x} KPARTX_DIFF_CASES=1 cargo test --test \
                     list_compat differential\n    image kept at {}\n    notes: {}\n{}",
                    g.family,
                    g.options.join(" "),
                    kept.display(),
                    g.notes.join("\n           "),
                    render_diff(&reference, &ours)
                );
                if why.is_empty() {
                    failures.push(text);
                } else {
                    known += 1;
                    eprintln!(
                        "KNOWN DIFFERENCE (documented hardening: {}) {text}",
                        why.join("; ")
                    );
                }
            }
        }
    }
    failures.extend(bench.problems.iter().cloned());
    if let Some(churn) = churn {
        match churn.finish() {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => failures.push(e),
        }
    }
    for note in &bench.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "differential_random_images: {ran} cases ({families:?}), {listed} with partitions, \
         {} failures, {known} known differences, {hung} reference hangs, {} notes, {} loop retries, \
         {:.1?}",
        failures.len(),
        bench.notes.len(),
        bench.retries,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} random images differ from the reference:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
