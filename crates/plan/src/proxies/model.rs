//! The validated proxies of a plan (`[proxies.NAME]`), and how their addresses are put into the
//! plan once they listen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::model::Plan;
use crate::proxies::addr::substitute;
use crate::targets::model::{DriverSpec, IdentityProbe};

/// One fault proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySpec {
    /// Its name, from `[proxies.NAME]`.
    pub name: String,
    /// Where it listens (port 0: a free port, chosen when the run starts).
    pub listen: SocketAddr,
    /// The dependency, `host:port`.
    pub upstream: String,
    /// Timeout of each upstream connect.
    pub connect_timeout: Duration,
    /// How long a toxic change may take to reach every connection.
    pub control_deadline: Duration,
}

impl ProxySpec {
    /// The proxy's preflight entry name, also put in the `targets` of every test that uses it.
    pub fn check_name(&self) -> String {
        check_name(&self.name)
    }
}

/// The preflight entry name of proxy `name`: `proxies.NAME`.
pub fn check_name(name: &str) -> String {
    format!("proxies.{name}")
}

/// `plan` with every `{{ proxies.NAME.addr }}` (and `.host`, `.port`) replaced by the address
/// the proxy really listens on: in target URLs, process commands, environments and working
/// directories, exec commands and identity commands.
pub fn bind_addresses(plan: &Plan, addrs: &BTreeMap<String, SocketAddr>) -> Plan {
    let mut plan = plan.clone();
    let sub = |s: &mut String| {
        if let std::borrow::Cow::Owned(bound) = substitute(s, addrs) {
            *s = bound;
        }
    };
    for target in plan.targets.values_mut() {
        sub(&mut target.base_url);
        if let Some(IdentityProbe::Command { command, .. }) = &mut target.identity {
            sub(command);
        }
        let Some(control) = &mut target.control else {
            continue;
        };
        match &mut control.driver {
            DriverSpec::Process(spec) => {
                spec.command.iter_mut().for_each(sub);
                spec.env.iter_mut().for_each(|(_, value)| sub(value));
                if let Some(cwd) = &mut spec.cwd {
                    let mut text = cwd.to_string_lossy().into_owned();
                    sub(&mut text);
                    *cwd = text.into();
                }
            }
            DriverSpec::Exec(spec) => spec.commands.values_mut().for_each(sub),
            DriverSpec::Http(_) | DriverSpec::Railway(_) => {}
        }
    }
    plan
}
