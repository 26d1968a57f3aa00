//! `faasm-run state put|get|delete USER/KEY [--state URL]`: one value of a global tier from the
//! command line (a function's input data before a run, its results after), over the host's
//! `global_state`: the store's embedded tier, or the Redis server `--state` names.

use crate::cli::{StateAction, StateOptions, StoreOptions};
use crate::client::Client;
use crate::error::CliError;
use faasm_hostcalls::faasm_state::StateLimits;
use faasm_scheduler::Error;
use faasm_scheduler::global_state::{self, GlobalTierLocation};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a client waits for a host's answer.
const SERVER_WAIT: Duration = Duration::from_secs(120);

/// Runs the action of `options` on the tier its `--state` names (the store's embedded tier
/// without it), or through the host its `--server` names.
pub(crate) fn execute(options: &StateOptions) -> Result<(), CliError> {
    if let Some(server) = &options.server {
        return through_server(&Client::new(server, SERVER_WAIT), &options.action);
    }
    Ok(on_tier(options)?)
}

/// The action through a running host's `/s/USER/KEY`.
fn through_server(client: &Client, action: &StateAction) -> Result<(), CliError> {
    match action {
        StateAction::Put { key, file } => {
            let data = read_input(file)?;
            client.put_state(url_safe(key)?, &data)
        }
        StateAction::Get { key, output } => {
            let data = client.get_state(url_safe(key)?)?;
            Ok(write_output(output.as_deref(), &data)?)
        }
        StateAction::Delete { key } => client.delete_state(url_safe(key)?),
    }
}

/// `key` if it can go into a URL path as it is (the host checks it further).
fn url_safe(key: &str) -> Result<&str, Error> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/');
    if key.chars().all(fits) {
        Ok(key)
    } else {
        Err(Error::Arguments(format!(
            "state key `{key}`: a host takes names of `[A-Za-z0-9_.-]` only, as USER/KEY"
        )))
    }
}

fn on_tier(options: &StateOptions) -> Result<(), Error> {
    let store = crate::functions::function_store(&StoreOptions {
        dir: options.store.clone(),
        python: None,
    })?;
    let tier = GlobalTierLocation::of(options.state.as_deref(), &store)
        .open(StateLimits::default().max_bytes_per_user)
        .map_err(Error::State)?;
    let tier = tier.as_ref();
    match &options.action {
        StateAction::Put { key, file } => {
            let data = read_input(file)?;
            global_state::put(tier, key, &data).map_err(Error::State)
        }
        StateAction::Get { key, output } => {
            let data = global_state::get(tier, key).map_err(Error::State)?;
            write_output(output.as_deref(), &data)
        }
        StateAction::Delete { key } => global_state::delete(tier, key).map_err(Error::State),
    }
}

/// The bytes of `file`, or of standard input for `-`.
fn read_input(file: &Path) -> Result<Vec<u8>, Error> {
    let failed = |source| Error::Read {
        path: file.to_path_buf(),
        source,
    };
    if file == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data).map_err(failed)?;
        return Ok(data);
    }
    std::fs::read(file).map_err(failed)
}

/// Writes `data` to `output`, or to standard output.
fn write_output(output: Option<&Path>, data: &[u8]) -> Result<(), Error> {
    match output {
        Some(path) => std::fs::write(path, data).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        }),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(data)
                .and_then(|()| stdout.flush())
                .map_err(|source| Error::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })
        }
    }
}
