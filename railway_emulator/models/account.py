"""The account behind a token: the user, its workspaces and their projects, SSH keys, two-factor, CLI telemetry,
and what the emulator has no counterpart for on a user's side (GitHub)."""
from __future__ import annotations

import base64
import hashlib
from typing import Any

from railway_emulator.errors import BadRequest, NotAuthorized, NotFound
from railway_emulator.models.records import Project, SshPublicKey, Token, new_id
from railway_emulator.models.store import Store

WORKSPACE_NAME = "ACS"
# functionRuntime(name: bun): the image Railway's functions run on (assumed: a fixed current version).
FUNCTION_RUNTIMES = {"bun": {"image": "ghcr.io/railwayapp/function-bun", "tag": "1.2.19"}}


class AccountBackend(Store):
    """me, externalWorkspaces, Workspace.projects, sshPublicKey*, twoFactorInfo*, cliEventTrack, githubRepos."""

    @staticmethod
    def _user_id(tok: Token) -> str:
        return "user-" + tok.workspaceId[:8]

    def _account(self, tok: Token) -> None:
        """User-level operations need an account token; a project token has no user behind it."""
        if tok.is_project_token:
            raise NotAuthorized()

    def me(self, tok: Token) -> dict[str, Any]:
        """The user behind an account token; a project token has none."""
        self._account(tok)
        return {"id": self._user_id(tok), "email": "developer@acs.local", "name": "ACS developer",
                "featureFlags": [], "workspaces": [{"id": tok.workspaceId, "name": WORKSPACE_NAME, "team": None}]}

    def workspace_projects(self, tok: Token, workspace_id: str) -> list[Project]:
        """Workspace.projects: the workspace's live projects (only the token's own workspace is reachable)."""
        return [p for p in self.projects(tok) if p.workspaceId == workspace_id]

    def external_workspaces(self, tok: Token, project_id: str | None = None) -> list[dict[str, Any]]:
        """Workspaces the user is not a member of but was invited into: the emulator's user belongs to the one
        workspace that holds all its projects, so there are none."""
        self._account(tok)
        if project_id:
            self.project(tok, project_id)
        return []

    # ---- SSH public keys ----------------------------------------------------------------------------------
    def _key_owner(self, tok: Token, workspace_id: str | None) -> str | None:
        """A workspace id owns workspace keys (only the token's own workspace); None means the user's keys.
        The emulator's Bearer tokens are account tokens, so an absent workspaceId means the user's own keys."""
        self._account(tok)
        if workspace_id is not None and workspace_id != tok.workspaceId:
            raise NotAuthorized()
        return workspace_id

    def ssh_public_keys(self, tok: Token, workspace_id: str | None = None) -> list[SshPublicKey]:
        owner = self._key_owner(tok, workspace_id)
        return [k for k in self.tables["ssh_keys"].values() if k.workspaceId == owner
                and (owner is not None or k.userId == self._user_id(tok))]

    def ssh_public_key_create(self, tok: Token, inp: dict[str, Any]) -> SshPublicKey:
        owner = self._key_owner(tok, inp.get("workspaceId"))
        parts = inp["publicKey"].split()
        try:
            blob = base64.b64decode(parts[1], validate=True) if len(parts) >= 2 and parts[0].startswith(
                ("ssh-", "ecdsa-")) else b""
        except ValueError:
            blob = b""
        if not blob:
            raise BadRequest("Invalid SSH public key")
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        if any(k.fingerprint == fingerprint for k in self.tables["ssh_keys"].values()):
            raise BadRequest("SSH public key already exists")
        key = SshPublicKey(id=new_id(), name=inp["name"], publicKey=inp["publicKey"].strip(), fingerprint=fingerprint,
                           userId=None if owner else self._user_id(tok), workspaceId=owner)
        self.tables["ssh_keys"][key.id] = key
        return key

    def ssh_public_key_delete(self, tok: Token, id: str) -> bool:
        self._account(tok)
        key = self.tables["ssh_keys"].get(id)
        if key is None or (key.workspaceId or tok.workspaceId) != tok.workspaceId or \
                (key.userId is not None and key.userId != self._user_id(tok)):
            raise NotFound("SSH public key")
        del self.tables["ssh_keys"][id]
        return True

    # ---- the user's side of other products -----------------------------------------------------------------
    def two_factor_info(self, tok: Token) -> dict[str, bool]:
        """The emulator's user has no two-factor authentication set up."""
        self._account(tok)
        return {"isVerified": False, "hasRecoveryCodes": False}

    def two_factor_info_validate(self, tok: Token, inp: dict[str, Any]) -> bool:
        self._account(tok)
        raise BadRequest("Two-factor authentication is not enabled")  # assumed message: Railway documents none

    def cli_event_track(self, tok: Token, inp: dict[str, Any]) -> bool:
        """CLI telemetry is accepted and dropped (the emulator keeps no analytics)."""
        return True

    def github_repos(self, tok: Token) -> list[dict[str, Any]]:
        """No GitHub account is connected to the emulator, so Railway has access to no repos."""
        self._account(tok)
        return []

    def git_hub_ssh_keys(self, tok: Token) -> list[dict[str, Any]]:
        self._account(tok)
        return []

    def function_runtime(self, tok: Token, name: str) -> dict[str, Any]:
        if name not in FUNCTION_RUNTIMES:
            raise NotFound("Function runtime")
        return {"latestVersion": dict(FUNCTION_RUNTIMES[name])}
