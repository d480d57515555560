//! `custody policy`: run a bundle's tests, diff bundles, build, sign and verify signed
//! bundles, and generate release keys. The logic lives in `custody-policy`; this
//! module reads and writes files and prints.
//!
//! A bundle directory holds one `*.cedarschema` file at its top, `*.cedar` policy
//! files anywhere below, and test files `*.json` under `tests/`. Symbolic links are
//! refused. Release keys are JSON files with the hex secret, mode 0600, refused when
//! readable by group or others.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use custody_policy::bundle::DEFAULT_THRESHOLD;
use custody_policy::testing::run_tests;
use custody_policy::{
    BundleContent, BundleVerifier, PublicKey, SignedBundle, SigningKey, TrustRoot,
};
use zeroize::Zeroizing;

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// Deepest directory nesting read from a bundle directory.
const MAX_DEPTH: usize = 8;
/// Largest single file read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Subcommands of `custody policy`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the tests of a bundle directory (or bundle file). Exit 0 all pass, 1 failures.
    Test {
        /// Bundle directory or signed bundle file.
        path: PathBuf,
    },
    /// Show policies added, removed and changed, and a schema summary, between two
    /// bundles (directories or bundle files).
    Diff {
        /// The old bundle.
        old: PathBuf,
        /// The new bundle.
        new: PathBuf,
    },
    /// Build an unsigned bundle file from a directory (strictly validated, tests run).
    Bundle {
        /// Bundle directory.
        dir: PathBuf,
        /// Version: must exceed every version nodes have accepted.
        #[arg(long)]
        version: u64,
        /// Expiry: RFC 3339 time, Unix seconds, or `+N[smhd]` from now.
        #[arg(long)]
        expires: String,
        /// Output file (must not exist).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
    /// Add a release-key signature to a bundle file (in place).
    Sign {
        /// Bundle file.
        file: PathBuf,
        /// Release key file (from `custody policy keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify a bundle file as a node would. Exit 0 accepted, 1 refused.
    Verify {
        /// Bundle file.
        file: PathBuf,
        /// Trust root JSON: `{"threshold": 2, "keys": ["<hex>", ...]}`.
        #[arg(long)]
        trust: PathBuf,
        /// Highest version already accepted (rollback floor).
        #[arg(long, default_value_t = 0)]
        accepted_version: u64,
    },
    /// Generate a release key (mode 0600); prints its public key and key id.
    Keygen {
        /// File to create (must not exist).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
    /// Write a trust root from release public keys.
    TrustRoot {
        /// Public keys (hex, as printed by keygen); repeat.
        #[arg(long = "public", required = true)]
        public: Vec<String>,
        /// Signatures required.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: usize,
        /// Output file (must not exist).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

/// Runs `custody policy`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    let now = unix_now()?;
    match command {
        Command::Test { path } => test(&path),
        Command::Diff { old, new } => diff(&old, &new),
        Command::Bundle {
            dir,
            version,
            expires,
            out,
        } => {
            let expires_at = parse_expiry(&expires, now)?;
            if expires_at <= now {
                bail!("--expires is in the past");
            }
            let content = read_dir(&dir)?;
            check_tests(&content)?;
            let bundle = SignedBundle::new(content, version, expires_at);
            write_new(&out, bundle.to_json().as_bytes(), false)?;
            println!("{}", bundle.id());
            Ok(EXIT_CLEAN)
        }
        Command::Sign { file, key } => {
            let key = read_key(&key)?;
            let mut bundle = read_bundle(&file)?;
            bundle.sign(&key);
            replace(&file, bundle.to_json().as_bytes())?;
            println!("signed {} with {}", bundle.id(), key.public_key().key_id());
            Ok(EXIT_CLEAN)
        }
        Command::Verify {
            file,
            trust,
            accepted_version,
        } => {
            let text = read_text(&trust)?;
            let root =
                TrustRoot::from_json(&text).with_context(|| format!("{}", trust.display()))?;
            let bundle = read_bundle(&file)?;
            match BundleVerifier::with_floor(root, accepted_version).verify(&bundle, now) {
                Ok(verified) => {
                    println!(
                        "accepted: bundle {} version {} expires {} ({} policies)",
                        verified.id(),
                        verified.version(),
                        verified.expires_at(),
                        verified.policy_count()
                    );
                    Ok(EXIT_CLEAN)
                }
                Err(err) => {
                    println!("refused: {err}");
                    Ok(EXIT_FINDINGS)
                }
            }
        }
        Command::Keygen { out } => {
            let mut secret = Zeroizing::new([0u8; 32]);
            getrandom::fill(secret.as_mut_slice())
                .map_err(|err| anyhow::anyhow!("no OS randomness: {err}"))?;
            let key = SigningKey::from_secret_bytes(&secret);
            write_new(&out, key.to_key_file_json().as_bytes(), true)?;
            println!(
                "{} {}",
                key.public_key().to_hex(),
                key.public_key().key_id()
            );
            Ok(EXIT_CLEAN)
        }
        Command::TrustRoot {
            public,
            threshold,
            out,
        } => {
            let keys = public
                .iter()
                .map(|hex| PublicKey::from_hex(hex).with_context(|| format!("--public {hex}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let root = TrustRoot::new(keys, threshold)?;
            write_new(&out, root.to_json().as_bytes(), false)?;
            Ok(EXIT_CLEAN)
        }
    }
}

fn test(path: &Path) -> anyhow::Result<u8> {
    let content = read_content(path)?;
    let report = run_tests(&content)?;
    for failure in report.failures() {
        println!(
            "FAIL {}: {}: expected {:?}; policies {:?}; errors {:?}",
            failure.file, failure.name, failure.expected, failure.policies, failure.errors
        );
    }
    let failed = report.failures().len();
    println!(
        "{} cases, {} passed, {} failed",
        report.total(),
        report.total().saturating_sub(failed),
        failed
    );
    Ok(if failed == 0 {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

fn check_tests(content: &BundleContent) -> anyhow::Result<()> {
    let report = run_tests(content)?;
    if !report.failures().is_empty() {
        bail!(
            "{} of {} bundle tests fail (run `custody policy test`)",
            report.failures().len(),
            report.total()
        );
    }
    Ok(())
}

fn diff(old: &Path, new: &Path) -> anyhow::Result<u8> {
    let result = custody_policy::diff::diff(&read_content(old)?, &read_content(new)?)?;
    let sections: [(&str, &Vec<String>); 7] = [
        ("policy added", &result.added),
        ("policy removed", &result.removed),
        ("policy changed", &result.changed),
        ("entity type added", &result.entity_types_added),
        ("entity type removed", &result.entity_types_removed),
        ("action added", &result.actions_added),
        ("action removed", &result.actions_removed),
    ];
    for (label, items) in sections {
        for item in items {
            println!("{label}: {item}");
        }
    }
    if result.schema_text_changed {
        println!("schema text changed");
    }
    if result.tests_changed {
        println!("tests changed");
    }
    if result.is_empty() {
        println!("no changes");
    }
    Ok(EXIT_CLEAN)
}

/// A directory, or the content of a bundle file.
fn read_content(path: &Path) -> anyhow::Result<BundleContent> {
    if fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .is_dir()
    {
        read_dir(path)
    } else {
        Ok(read_bundle(path)?.content)
    }
}

fn read_bundle(path: &Path) -> anyhow::Result<SignedBundle> {
    let bytes = read_bytes(path)?;
    SignedBundle::from_json(&bytes).with_context(|| format!("{}", path.display()))
}

/// Reads a bundle directory (see the module docs).
fn read_dir(dir: &Path) -> anyhow::Result<BundleContent> {
    let mut schema = None;
    let mut policies = BTreeMap::new();
    let mut tests = BTreeMap::new();
    let mut files = Vec::new();
    walk(dir, "", 0, &mut files)?;
    for (relative, path) in files {
        if relative.ends_with(".cedarschema") && !relative.contains('/') {
            if schema.replace(read_text(&path)?).is_some() {
                bail!("{}: more than one .cedarschema file", dir.display());
            }
        } else if relative.ends_with(".cedar") {
            policies.insert(relative, read_text(&path)?);
        } else if relative.starts_with("tests/") && relative.ends_with(".json") {
            tests.insert(relative, read_text(&path)?);
        }
    }
    let Some(schema) = schema else {
        bail!(
            "{}: no .cedarschema file at the top of the directory",
            dir.display()
        );
    };
    Ok(BundleContent {
        schema,
        policies,
        tests,
    })
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        bail!(
            "{}: nested deeper than {MAX_DEPTH} directories",
            dir.display()
        );
    }
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            bail!("{}: a file name is not UTF-8", dir.display());
        };
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if kind.is_symlink() {
            bail!(
                "{}: symbolic links are refused in a bundle directory",
                path.display()
            );
        } else if kind.is_dir() {
            walk(&path, &relative, depth.saturating_add(1), out)?;
        } else if kind.is_file() {
            out.push((relative, path));
        }
    }
    Ok(())
}

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        bail!("{}: larger than 16 MiB", path.display());
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    String::from_utf8(read_bytes(path)?).with_context(|| format!("{}: not UTF-8", path.display()))
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{}: key file is readable by group or others (chmod 600)",
                path.display()
            );
        }
    }
    let text = Zeroizing::new(read_text(path)?);
    SigningKey::from_key_file_json(&text).with_context(|| format!("{}", path.display()))
}

fn write_new(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` atomically (write a sibling, then rename).
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .context("cannot write the signed bundle")?;
    temp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn unix_now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs())
}

/// RFC 3339, Unix seconds, or `+N[smhd]` from `now`.
fn parse_expiry(text: &str, now: u64) -> anyhow::Result<u64> {
    if let Some(rest) = text.strip_prefix('+') {
        let split = rest.len().saturating_sub(1);
        let (number, unit) = (
            rest.get(..split).unwrap_or(""),
            rest.get(split..).unwrap_or(""),
        );
        let scale: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => bail!("--expires {text:?}: a relative expiry ends in s, m, h or d"),
        };
        let count: u64 = number
            .parse()
            .with_context(|| format!("--expires {text:?}: not a number"))?;
        return count
            .checked_mul(scale)
            .and_then(|secs| now.checked_add(secs))
            .ok_or_else(|| anyhow::anyhow!("--expires {text:?}: out of range"));
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--expires {text:?}: not RFC 3339, Unix seconds or +N[smhd]"))?;
    u64::try_from(time.unix_timestamp()).context("--expires before 1970")
}
