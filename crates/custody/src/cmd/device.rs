//! `custody device`: create and show this device's identity, and create broker signer keys.
//!
//! The identity lives in a directory (default `$CUSTODY_DEVICE_DIR`, else
//! `$HOME/.config/custody/device`); its layout is in `docs/formats/envelope.md`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use custody_seal::device::write_new;
use custody_seal::{DeviceIdentity, OsEntropy, SigningKey};

/// Subcommands of `custody device`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create this device's identity: an HPKE key pair for receiving sealed exports and an
    /// Ed25519 key pair for proofs of possession (private keys written with mode 0600).
    Init {
        /// Directory of the identity (default: $CUSTODY_DEVICE_DIR or ~/.config/custody/device).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the public part of this device's identity: JWKs and thumbprints.
    Show {
        /// Directory of the identity (default: $CUSTODY_DEVICE_DIR or ~/.config/custody/device).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Create an Ed25519 signer key for sealing exports offline (the broker's header key):
    /// writes the private JWK to OUT (mode 0600) and the public JWK to OUT.pub.
    NewSigner {
        /// Path of the private key file to create (never overwritten).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

/// The device directory: the flag, else `$CUSTODY_DEVICE_DIR`, else `~/.config/custody/device`.
pub fn device_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("CUSTODY_DEVICE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .context("no --dir given and neither CUSTODY_DEVICE_DIR nor HOME is set")?;
    Ok(Path::new(&home).join(".config/custody/device"))
}

/// Runs `custody device`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Init { dir } => {
            let dir = device_dir(dir)?;
            let identity = DeviceIdentity::generate(&mut OsEntropy)
                .context("could not generate the device keys")?;
            identity.save(&dir).with_context(|| {
                format!("could not create the device identity in {}", dir.display())
            })?;
            let public = identity.public();
            println!("device identity created in {}", dir.display());
            println!("device id (HPKE key thumbprint): {}", public.device_id());
            println!(
                "proof-of-possession key thumbprint (jkt): {}",
                public.pop.thumbprint()
            );
        }
        Command::Show { dir } => {
            let dir = device_dir(dir)?;
            let public = DeviceIdentity::load_public(&dir).with_context(|| {
                format!("could not read the device identity in {}", dir.display())
            })?;
            println!("{}", public.to_json());
        }
        Command::NewSigner { out } => {
            let key =
                SigningKey::generate(&mut OsEntropy).context("could not generate a signer key")?;
            write_new(&out, key.to_jwk().as_bytes(), 0o600)
                .with_context(|| format!("could not write the signer key {}", out.display()))?;
            let mut public_path = out.clone().into_os_string();
            public_path.push(".pub");
            let public_path = PathBuf::from(public_path);
            let mut public = key.public().to_jwk();
            public.push('\n');
            write_new(&public_path, public.as_bytes(), 0o644)
                .with_context(|| format!("could not write {}", public_path.display()))?;
            println!(
                "signer key written to {} (public JWK: {})",
                out.display(),
                public_path.display()
            );
            println!("signer key id (thumbprint): {}", key.public().thumbprint());
        }
    }
    Ok(crate::EXIT_CLEAN)
}
