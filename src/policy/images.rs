//! The boot image list: `/etc/kpartx/images.toml` and `/etc/kpartx/images.d/*.toml`, the disk
//! images whose partitions `kpartx --map-images` maps (at boot, from `kpartx-images.service`)
//! and `--unmap-images` unmaps.
//!
//! The files are read like the policy (same type, ownership, mode and size checks, errors as
//! `FILE:LINE:COLUMN: message`), and the whole list is validated before anything is mapped:
//! a broken list maps nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::SYSTEM_DIR;
use super::error::{LineIndex, PolicyError, parse_toml};
use super::load::Loader;
use kpartx_table::naming::DM_NAME_MAX;
use kpartx_table::sector_size::SectorSize;

/// Main image list file name inside the policy directory.
pub const IMAGES_FILE: &str = "images.toml";
/// Drop-in directory of image lists inside the policy directory.
pub const IMAGES_DROP_IN: &str = "images.d";
/// Most images the lists may hold together.
pub const MAX_IMAGES: usize = 1024;
/// Longest image name: room is left for the delimiter and the partition number.
pub const MAX_NAME: usize = DM_NAME_MAX - 16;

/// One image of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The image file (absolute).
    pub path: PathBuf,
    /// The name its maps are derived from (`NAME<delimiter>N`).
    pub name: String,
    /// Map it read-only (and bind its loop read-only).
    pub read_only: bool,
    /// The delimiter (`None`: the default rule).
    pub delimiter: Option<String>,
    /// The logical sector size of its loop device.
    pub sector_size: SectorSize,
    /// Where it is listed, `FILE:LINE:COLUMN`.
    pub origin: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListModel {
    #[serde(default)]
    image: Vec<Spanned<ImageModel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageModel {
    path: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    read_only: bool,
    delimiter: Option<Spanned<String>>,
    sector_size: Option<Spanned<SectorSizeModel>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SectorSizeModel {
    Bytes(i64),
    Word(String),
}

/// The list, as the files are read one after the other.
#[derive(Default)]
struct Builder {
    images: Vec<ImageEntry>,
    names: HashMap<String, String>,
    paths: HashMap<PathBuf, String>,
}

impl Builder {
    /// Parses and validates `text` (the contents of `path`), adding its images.
    fn add_text(&mut self, path: &Path, text: &str, errors: &mut Vec<PolicyError>) {
        let lines = LineIndex::new(text);
        let model = match parse_toml::<ListModel>(path, &lines, text) {
            Ok(model) => model,
            Err(e) => {
                errors.push(e);
                return;
            }
        };
        for image in model.image {
            let at = |offset: usize, msg: String| PolicyError::at(path, &lines, offset, msg);
            if self.images.len() >= MAX_IMAGES {
                let msg = format!("too many [[image]] entries: the lists may hold {MAX_IMAGES}");
                errors.push(at(image.span().start, msg));
                return;
            }
            let (line, column) = lines.locate(image.span().start);
            let origin = format!("{}:{line}:{column}", path.display());
            let image = image.into_inner();
            match validate(image, &origin) {
                Ok(entry) => self.add(entry, errors, at),
                Err((offset, msg)) => errors.push(at(offset, msg)),
            }
        }
    }

    fn add(
        &mut self,
        (entry, name_at, path_at): (ImageEntry, usize, usize),
        errors: &mut Vec<PolicyError>,
        at: impl Fn(usize, String) -> PolicyError,
    ) {
        if let Some(first) = self.names.get(&entry.name) {
            let msg = format!("name \"{}\" is already used at {first}", entry.name);
            errors.push(at(name_at, msg));
            return;
        }
        if let Some(first) = self.paths.get(&entry.path) {
            let msg = format!("{} is already listed at {first}", entry.path.display());
            errors.push(at(path_at, msg));
            return;
        }
        self.names.insert(entry.name.clone(), entry.origin.clone());
        self.paths.insert(entry.path.clone(), entry.origin.clone());
        self.images.push(entry);
    }
}

/// Checks one `[[image]]`; on success also returns where its name and path are, for the
/// duplicate checks across entries.
fn validate(
    image: ImageModel,
    origin: &str,
) -> Result<(ImageEntry, usize, usize), (usize, String)> {
    let path_at = image.path.span().start;
    let path = image.path.into_inner();
    if !path.starts_with('/') || path.contains('\0') {
        return Err((path_at, format!("path \"{path}\" must be absolute")));
    }
    let name_at = image.name.span().start;
    let name = image.name.into_inner();
    if let Some(why) = bad_name(&name) {
        return Err((name_at, format!("invalid name \"{name}\": {why}")));
    }
    let delimiter = match image.delimiter {
        Some(d) if d.get_ref().contains('/') || d.get_ref().contains('\0') => {
            let msg = format!("invalid delimiter \"{}\": no '/' or NUL", d.get_ref());
            return Err((d.span().start, msg));
        }
        Some(d) => Some(d.into_inner()),
        None => None,
    };
    let sector_size = match image.sector_size {
        None => SectorSize::Auto,
        Some(s) => {
            let parsed = match s.get_ref() {
                SectorSizeModel::Bytes(n) => SectorSize::parse(&n.to_string()),
                SectorSizeModel::Word(w) => SectorSize::parse(w),
            };
            let msg = "sector_size must be 512, 4096 or \"auto\"".to_string();
            parsed.ok_or((s.span().start, msg))?
        }
    };
    let entry = ImageEntry {
        path: PathBuf::from(path),
        name,
        read_only: image.read_only,
        delimiter,
        sector_size,
        origin: origin.to_string(),
    };
    Ok((entry, name_at, path_at))
}

/// Why `name` cannot be the base of device-mapper map names, if it cannot.
fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Some("empty, \".\" or \"..\"".into());
    }
    if name.contains('/') || name.contains('\0') {
        return Some("contains '/' or NUL".into());
    }
    if name.len() > MAX_NAME {
        return Some(format!("longer than {MAX_NAME} bytes"));
    }
    None
}

fn finish(builder: Builder, errors: Vec<PolicyError>) -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
    if errors.is_empty() {
        Ok(builder.images)
    } else {
        Err(errors)
    }
}

/// Reads the list `paths` (each must exist), trusting only files owned by `loader`'s uid.
fn load_with<P: AsRef<Path>>(
    loader: &Loader,
    paths: &[P],
    missing_ok: bool,
) -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
    let mut builder = Builder::default();
    let errors = loader.read_all(paths, missing_ok, "image lists", |path, text, errors| {
        builder.add_text(path, text, errors)
    });
    finish(builder, errors)
}

/// Reads the given list files (root-owned, not writable by others).
pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
    load_with(&Loader::ROOT, paths, false)
}

/// Reads `DIR/images.toml` and `DIR/images.d/*.toml`; none of them existing is an empty list.
pub fn load_from_dir(dir: &Path) -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
    let files = Loader::ROOT.files_in(dir, IMAGES_FILE, IMAGES_DROP_IN)?;
    load_with(&Loader::ROOT, &files, true)
}

/// The system's list, from [`SYSTEM_DIR`].
pub fn load_system() -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
    load_from_dir(Path::new(SYSTEM_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and validates one list file's text (no file system access).
    fn from_text(path: &Path, text: &str) -> Result<Vec<ImageEntry>, Vec<PolicyError>> {
        let mut builder = Builder::default();
        let mut errors = Vec::new();
        builder.add_text(path, text, &mut errors);
        finish(builder, errors)
    }

    fn parse(text: &str) -> Result<Vec<ImageEntry>, Vec<String>> {
        from_text(Path::new("images.toml"), text)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_full_entry_and_the_defaults() {
        let images = parse(
            r#"
[[image]]
path = "/srv/vm1.img"
name = "vm1"
read_only = true
delimiter = "-part"
sector_size = 4096

[[image]]
path = "/srv/vm2.img"
name = "vm2"
sector_size = "auto"
"#,
        )
        .expect("valid");
        assert_eq!(images.len(), 2);
        assert_eq!(
            images[0],
            ImageEntry {
                path: "/srv/vm1.img".into(),
                name: "vm1".into(),
                read_only: true,
                delimiter: Some("-part".into()),
                sector_size: SectorSize::Fixed(4096),
                origin: "images.toml:2:1".into(),
            }
        );
        assert!(!images[1].read_only);
        assert_eq!(images[1].delimiter, None);
        assert_eq!(images[1].sector_size, SectorSize::Auto);
        assert_eq!(parse("").expect("empty list"), Vec::new());
    }

    #[test]
    fn errors_are_located() {
        let err = parse("[[image]]\npath = \"/a\"\nname = \"a\"\nsize = 3\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].starts_with("images.toml:"), "{err:?}");
        assert!(err[0].contains("unknown field `size`"), "{err:?}");
        let err = parse("[[image]]\npath = \"/a\"\n").unwrap_err();
        assert!(err[0].contains("missing field `name`"), "{err:?}");
        let err = parse("[[image]]\npath = \"rel.img\"\nname = \"a\"\n").unwrap_err();
        assert_eq!(
            err,
            vec!["images.toml:2:8: path \"rel.img\" must be absolute"]
        );
        let err = parse("[[image]]\npath = \"/a\"\nname = \"a/b\"\n").unwrap_err();
        assert_eq!(
            err,
            vec!["images.toml:3:8: invalid name \"a/b\": contains '/' or NUL"]
        );
        let err =
            parse("[[image]]\npath = \"/a\"\nname = \"a\"\nsector_size = 1024\n").unwrap_err();
        assert_eq!(
            err,
            vec!["images.toml:4:15: sector_size must be 512, 4096 or \"auto\""]
        );
        let err =
            parse("[[image]]\npath = \"/a\"\nname = \"a\"\ndelimiter = \"p/\"\n").unwrap_err();
        assert_eq!(
            err,
            vec!["images.toml:4:13: invalid delimiter \"p/\": no '/' or NUL"]
        );
        let long = "x".repeat(MAX_NAME + 1);
        let err = parse(&format!("[[image]]\npath = \"/a\"\nname = \"{long}\"\n")).unwrap_err();
        assert!(err[0].contains("longer than"), "{err:?}");
    }

    #[test]
    fn names_and_paths_are_unique() {
        let text = "[[image]]\npath = \"/a\"\nname = \"a\"\n\
                    [[image]]\npath = \"/b\"\nname = \"a\"\n\
                    [[image]]\npath = \"/a\"\nname = \"c\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(
            err,
            vec![
                "images.toml:6:8: name \"a\" is already used at images.toml:1:1",
                "images.toml:8:8: /a is already listed at images.toml:1:1",
            ]
        );
    }

    #[test]
    fn every_error_is_reported_and_nothing_is_kept() {
        let text = "[[image]]\npath = \"x\"\nname = \"a\"\n[[image]]\npath = \"/b\"\nname = \"\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
    }

    #[test]
    fn files_are_checked_like_the_policy() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join(IMAGES_FILE);
        std::fs::write(&main, "[[image]]\npath = \"/a\"\nname = \"a\"\n").unwrap();
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::create_dir(dir.path().join(IMAGES_DROP_IN)).unwrap();
        let drop_in = dir.path().join(IMAGES_DROP_IN).join("b.toml");
        std::fs::write(&drop_in, "[[image]]\npath = \"/b\"\nname = \"b\"\n").unwrap();
        std::fs::set_permissions(&drop_in, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loader = Loader {
            trusted_uid: nix::unistd::getuid().as_raw(),
        };
        let files = loader
            .files_in(dir.path(), IMAGES_FILE, IMAGES_DROP_IN)
            .unwrap();
        let images = load_with(&loader, &files, true).expect("valid");
        assert_eq!(images.len(), 2);
        assert_eq!(images[1].name, "b");
        std::fs::set_permissions(&drop_in, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = load_with(&loader, &files, true).unwrap_err();
        assert!(
            err[0].to_string().contains("writable by group or others"),
            "{err:?}"
        );
        let other = Loader {
            trusted_uid: nix::unistd::getuid().as_raw() + 1,
        };
        assert!(load_with(&other, &files, true).is_err());
        let empty = tempfile::tempdir().unwrap();
        let files = loader
            .files_in(empty.path(), IMAGES_FILE, IMAGES_DROP_IN)
            .unwrap();
        assert_eq!(
            load_with(&loader, &files, true).expect("no list"),
            Vec::new()
        );
    }
}
