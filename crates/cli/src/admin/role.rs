//! `berth role assignment …`: roles of principals at scopes, as `az role assignment` takes them.

use super::{NO_BODY, RegistryArg, call, enc, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{CreateRoleAssignment, RoleAssignmentView};
use clap::Subcommand;
use reqwest::Method;

/// `berth role assignment …`.
#[derive(Subcommand)]
pub enum RoleAssignmentCommand {
    /// Assign a role.
    Create {
        /// Application ID or display name.
        #[arg(long)]
        assignee: String,
        /// Role name.
        #[arg(long)]
        role: String,
        /// `/`, `repositories/NAME` or `repositories/PREFIX/*` (default `/`).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List role assignments.
    List {
        /// Only this principal's.
        #[arg(long)]
        assignee: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Remove a role assignment.
    Delete {
        /// Application ID or display name.
        #[arg(long)]
        assignee: String,
        /// Role name.
        #[arg(long)]
        role: String,
        /// Scope (default `/`).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

/// `berth role assignment …`.
pub fn run(cmd: RoleAssignmentCommand) -> Result<()> {
    match cmd {
        RoleAssignmentCommand::Create { assignee, role, scope, registry, out } => {
            let body = CreateRoleAssignment { assignee, role, scope };
            show::<RoleAssignmentView>(&registry, Method::POST, "role-assignments", Some(&body), &out)
        }
        RoleAssignmentCommand::List { assignee, registry, out } => {
            let path = match assignee {
                Some(a) => format!("role-assignments?assignee={}", enc(&a)),
                None => "role-assignments".to_owned(),
            };
            show::<Vec<RoleAssignmentView>>(&registry, Method::GET, &path, NO_BODY, &out)
        }
        RoleAssignmentCommand::Delete { assignee, role, scope, registry } => {
            let path = format!(
                "role-assignments?assignee={}&role={}&scope={}",
                enc(&assignee),
                enc(&role),
                enc(scope.as_deref().unwrap_or("/"))
            );
            call(&registry, Method::DELETE, &path, None).map(|_| ())
        }
    }
}
