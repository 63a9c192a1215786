//! Our `--json` listing checked against our text listing of the same image.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use kpartx::testkit::host::without_loop_numbers;

use crate::harness::{OURS, reap_loops, run};

/// One line of the text listing.
pub struct TextLine {
    name: String,
    size: u64,
    device: String,
    start: u64,
}

pub fn parse_text(stdout: &[u8]) -> Result<Vec<TextLine>, String> {
    let text = String::from_utf8(stdout.to_vec()).map_err(|e| format!("stdout not UTF-8: {e}"))?;
    text.lines()
        .map(|line| {
            let (name, rest) = line
                .split_once(" : 0 ")
                .ok_or_else(|| format!("unexpected line {line:?}"))?;
            let mut words: Vec<&str> = rest.split(' ').collect();
            let bad = || format!("unexpected line {line:?}");
            let start = words.pop().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if words.len() < 2 {
                return Err(bad());
            }
            let size = words.remove(0).parse().map_err(|_| bad())?;
            Ok(TextLine {
                name: name.to_string(),
                size,
                device: words.join(" "),
                start,
            })
        })
        .collect()
}

/// Runs ours with `--json` and checks it describes the same partitions as `text`.
pub fn check_json(
    args: &[OsString],
    text: &[u8],
    losetup: &Path,
    dir: &Path,
) -> Result<(), String> {
    let mut json_args = vec![OsString::from("--json")];
    json_args.extend_from_slice(args);
    let out = run(OURS, &json_args);
    if !reap_loops(losetup, dir).is_empty() {
        return Err("ours --json left a loop device attached".into());
    }
    if out.status.code() != Some(0) {
        return Err(format!("ours --json: {}", out.status_text()));
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "--json output is not valid JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let lines = parse_text(text)?;
    let parts = value["partitions"]
        .as_array()
        .ok_or("--json has no `partitions` array")?;
    if parts.len() != lines.len() {
        return Err(format!(
            "--json lists {} partitions, the text listing {}",
            parts.len(),
            lines.len()
        ));
    }
    let device = value["device"].as_str().ok_or("--json has no `device`")?;
    let by_number: BTreeMap<u64, &serde_json::Value> = parts
        .iter()
        .filter_map(|p| Some((p["number"].as_u64()?, p)))
        .collect();
    if by_number.len() != parts.len() {
        return Err("--json partitions lack unique numbers".into());
    }
    for (index, p) in parts.iter().enumerate() {
        let field = |k: &str| p[k].as_u64().ok_or_else(|| format!("--json `{k}` in {p}"));
        let (number, start, size) = (field("number")?, field("start")?, field("size")?);
        let name = p["name"].as_str().ok_or("--json partition without name")?;
        if !name.ends_with(&number.to_string()) {
            return Err(format!(
                "--json name {name} does not end in its number {number}"
            ));
        }
        // The two runs may have used different loop devices (other processes use loops too):
        // then the line in the same place must have the same name but for the loop number
        // (by name alone, `-p ''` makes loop0 + 12 and loop01 + 2 look alike).
        let unlooped = |t: &str| without_loop_numbers(t.as_bytes());
        let alike: Vec<&TextLine> = lines
            .iter()
            .filter(|l| unlooped(&l.name) == unlooped(name))
            .collect();
        let line = lines
            .iter()
            .find(|l| l.name == name)
            .or_else(|| match alike.as_slice() {
                [only] => Some(*only),
                _ => lines
                    .get(index)
                    .filter(|l| unlooped(&l.name) == unlooped(name)),
            })
            .ok_or_else(|| format!("--json has {name}, the text listing does not"))?;
        if line.size != size {
            return Err(format!(
                "{name}: size {size} in --json, {} in text",
                line.size
            ));
        }
        match p["container"].as_u64() {
            None => {
                if unlooped(&line.device) != unlooped(device) || line.start != start {
                    return Err(format!(
                        "{name}: --json {device} {start}, text {} {}",
                        line.device, line.start
                    ));
                }
            }
            Some(container) => {
                // Stacked on its container: `/dev/dm-K` and an offset relative to the
                // container's start. (K is the reference's legacy ordinal; nested and mutual
                // containment make it hard to predict, and the text itself is compared with
                // the reference byte for byte anyway.) A container that is not listed (a
                // slice cut to size 0) cannot be checked further.
                if !line.device.starts_with("/dev/dm-") {
                    return Err(format!(
                        "{name}: contained in #{container} but listed on {}",
                        line.device
                    ));
                }
                if let Some(outer) = by_number.get(&container) {
                    let outer_start = outer["start"].as_u64().unwrap_or_default();
                    if line.start != start.wrapping_sub(outer_start) {
                        return Err(format!(
                            "{name}: --json start {start} in #{container} (at {outer_start}), \
                             text {} {}",
                            line.device, line.start
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
