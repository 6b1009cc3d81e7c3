"""GTO tags for each new champion when the project is a git repository: the version folder
vNNNN is registered as `ARTIFACT@v0.0.N` and assigned the stage `prod` (`ARTIFACT#prod#K`), so
`gto show` and `gto history` list the champions. Tags are local: seqarena never pushes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from flows.runs.folders import VERSION

AUTHOR = {"author": "seqarena", "author_email": "seqarena@localhost"}
STAGE = "prod"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-/]*[a-z0-9])?$")  # what GTO accepts as an artifact name


def repo_of(where: Path) -> Path | None:
    """The top of the git work tree holding `where`, if it has a commit."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    try:
        top, head = git("rev-parse", "--show-toplevel"), git("rev-parse", "--verify", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(top.stdout.strip()) if top.returncode == 0 and head.returncode == 0 else None


OWNER = "output folder: "  # the line of a registration's tag message naming its folder


def folder_of(repo: Path, root: Path) -> str:
    """The output folder `root` as the registry names it: relative to the repository."""
    try:
        return root.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(root.resolve())


def owner(repo: Path, artifact: str) -> str | None:
    """The output folder whose champions `artifact` tags (from its registrations), if any."""
    out = subprocess.run(["git", "-C", str(repo), "for-each-ref", f"refs/tags/{artifact}@*",
                          "--format=%(contents)"], capture_output=True, text=True, timeout=10,
                         check=False).stdout
    return next((ln[len(OWNER):].strip() for ln in out.splitlines() if ln.startswith(OWNER)),
                None)


def semver(version: Path) -> str:
    """vNNNN -> v0.0.N."""
    match = VERSION.match(version.name)
    if not match:
        raise ValueError(f"{version.name} is not a version folder name")
    return f"v0.0.{int(match.group(1))}"


def tag_champion(root: Path, artifact: str | None, version: Path | None) -> str:
    """Register `version` (if new) and assign it `prod`; a note of what was done or why not.
    GTO's own errors become the note: they never fail a run whose champion is already safe."""
    if not artifact or version is None:
        return "GTO tags off (promote.gto_artifact is null)" if not artifact else "no champion"
    repo = repo_of(root)
    if repo is None:
        return f"GTO tags skipped: {root} is not in a git repository with a commit"
    try:
        import gto.api as gto
        from gto.exceptions import ArtifactNotFound, GTOException, VersionExistsForCommit
    except ImportError:
        return "GTO tags skipped: the gto package is not installed"
    number, here = semver(version), folder_of(repo, root)
    if (first := owner(repo, artifact)) not in (None, here):
        return (f"GTO tags skipped: {artifact} tags the champions of {first}, not of {here}; "
                "give this output folder a name of its own (promote.gto_artifact)")
    try:
        try:
            known = {v["version"] for v in gto.show(str(repo), artifact)}
        except ArtifactNotFound:
            known = set()
        if number not in known:
            gto.register(str(repo), artifact, "HEAD", version=number, **AUTHOR,
                         message=f"Registering artifact {artifact} version {number}\n\n"
                                 f"{OWNER}{here}")
    except VersionExistsForCommit:
        return (f"GTO tags for {artifact}@{number} skipped: GTO allows one version per commit "
                f"and HEAD of {repo} carries one already; commit, then run `gto register "
                f"{artifact} HEAD --version {number}` and `gto assign {artifact} {STAGE} "
                f"--version {number}`")
    except GTOException as exc:
        return f"GTO tags for {artifact}@{number} skipped: {exc}"
    try:
        gto.assign(str(repo), artifact, STAGE, version=number, force=True, **AUTHOR)
    except GTOException as exc:
        return f"GTO tags for {artifact}@{number} skipped: {exc}"
    return f"tagged {artifact}@{number}, stage {STAGE} (repository {repo})"
