/**
 * Registers the client commands: one noun per resource, topology files, packet traces and
 * reachability checks, and shell completion.
 */
import type { Command } from 'commander';
import { registerAgentCommands } from './agent.js';
import { registerCheckCommand } from './check.js';
import { registerCompletionCommand } from './completion.js';
import { registerFloatingIpCommands } from './floating-ip.js';
import { registerIdentityCommands } from './identity.js';
import { registerInstanceCommands } from './instance.js';
import { registerMeteringCommands } from './metering.js';
import { registerNetworkCommands } from './network.js';
import { registerNetworkLogCommands } from './network-log.js';
import { registerPortCommands } from './port.js';
import { registerQosCommands } from './qos.js';
import { registerRouterCommands } from './router.js';
import { registerSecurityGroupCommands } from './security-group.js';
import { registerSubnetCommands } from './subnet.js';
import { registerAddressScopeCommands } from './subnet-pool.js';
import { registerTaasCommands } from './taas.js';
import { registerTopologyCommands } from './topology/command.js';
import { registerTraceCommand } from './trace.js';
import { registerVpnCommands } from './vpn.js';

export function registerClientCommands(root: Command): void {
  registerAgentCommands(registerNetworkCommands(root));
  registerSubnetCommands(root);
  registerAddressScopeCommands(root);
  registerPortCommands(root);
  registerRouterCommands(root);
  registerFloatingIpCommands(root);
  registerSecurityGroupCommands(root);
  registerQosCommands(root);
  registerTaasCommands(root);
  registerMeteringCommands(root);
  registerNetworkLogCommands(root);
  registerVpnCommands(root);
  registerInstanceCommands(root);
  registerIdentityCommands(root);
  registerTopologyCommands(root);
  registerTraceCommand(root);
  registerCheckCommand(root);
  registerCompletionCommand(root);
}
