//! Starting a command: checking its environment and working directory, finding the
//! program in the child's own `PATH` (never a relative entry), and spawning it as the
//! leader of a new process group with exactly the given environment and no shell.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::error::ProcessError;
use super::spec::{CommandSpec, StdinSpec};

/// Starts `spec` (whose `argv[0]` is `program`) as the leader of its own process group,
/// with stdout and stderr piped, and returns the child with the moment it started.
///
/// # Errors
///
/// [`ProcessError::Spawn`] when the environment is invalid, the working directory is
/// unusable, or the program cannot be found or started.
pub(super) async fn spawn_in_group(
    spec: &CommandSpec,
    program: &str,
) -> Result<(Child, Instant), ProcessError> {
    let spawn_error = |source| ProcessError::Spawn {
        program: program.to_owned(),
        cwd: spec.cwd.clone(),
        source,
    };
    validate_env(&spec.env).map_err(spawn_error)?;
    check_working_directory(&spec.cwd)
        .await
        .map_err(spawn_error)?;
    let executable = resolve_program(program, &spec.cwd, &spec.env)
        .await
        .map_err(spawn_error)?;

    let mut command = Command::new(&executable);
    command
        .arg0(program)
        .args(spec.argv.iter().skip(1))
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(name, value)| (name, value)))
        .process_group(0)
        .stdin(match spec.stdin {
            StdinSpec::Null => Stdio::null(),
            StdinSpec::Bytes(_) => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

    tracing::debug!(program, executable = %executable.display(), cwd = %spec.cwd.display(), "starting command");
    let started = Instant::now();
    let child = command.spawn().map_err(spawn_error)?;
    Ok((child, started))
}

/// Rejects environment names that the child would read differently from what was given.
fn validate_env(env: &[(String, String)]) -> io::Result<()> {
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable `{}` has an invalid name or value",
                    name.escape_debug()
                ),
            ));
        }
    }
    Ok(())
}

async fn check_working_directory(cwd: &Path) -> io::Result<()> {
    let metadata = tokio::fs::metadata(cwd).await.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("working directory {} is not usable: {error}", cwd.display()),
        )
    })?;
    if metadata.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("working directory {} is not a directory", cwd.display()),
        ))
    }
}

/// Finds the file to execute for `program`, as described in the module docs.
async fn resolve_program(
    program: &str,
    cwd: &Path,
    env: &[(String, String)],
) -> io::Result<PathBuf> {
    if program.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the program name is empty",
        ));
    }
    if program.contains('/') {
        let path = cwd.join(program);
        return match executable_file(&path).await {
            Ok(()) => Ok(path),
            Err(error) => Err(io::Error::new(
                error.kind(),
                format!("{}: {error}", path.display()),
            )),
        };
    }

    let Some(search_path) = env
        .iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value)
    else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the command's environment has no PATH to look the program up in; \
             give an absolute path or pass PATH",
        ));
    };
    let mut not_executable: Option<PathBuf> = None;
    // Relative entries would resolve inside the worktree, where the agent could plant
    // a program that a later validation command then runs.
    for dir in search_path
        .split(':')
        .map(Path::new)
        .filter(|dir| dir.is_absolute())
    {
        let candidate = dir.join(program);
        match executable_file(&candidate).await {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                not_executable.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    Err(match not_executable {
        Some(path) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not executable", path.display()),
        ),
        None => io::Error::new(
            io::ErrorKind::NotFound,
            format!("not found in the absolute directories of the command's PATH ({search_path})"),
        ),
    })
}

/// Ok when `path` is a regular file with an execute bit set.
async fn executable_file(path: &Path) -> io::Result<()> {
    let metadata = tokio::fs::metadata(path).await?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a regular file",
        ));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not executable",
        ));
    }
    Ok(())
}
