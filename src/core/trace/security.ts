/** A trace's security steps (pure): port security, security groups and FWaaS firewall groups. */
import { isRouterInterfaceOwner } from '../../model/device-owners.js';
import type { TraceObject } from '../../model/trace.js';
import {
  covers,
  ECHO_REPLY,
  ECHO_REQUEST,
  firewallRuleMatches,
  firewallRuleText,
  protocolText,
  ruleMatches,
  ruleText,
  short,
} from './match.js';
import type { Packet, TGroup, TPort, TraceRule } from './model.js';
import { TraceWalk } from './walk.js';

/** The checks a packet meets at ports and router interfaces: anti-spoofing, security groups, firewall groups. */
export abstract class SecuritySteps extends TraceWalk {
  protected antiSpoofing(port: TPort, packet: Packet): void {
    const object = this.object('port', port);
    if (!port.port_security_enabled) {
      this.pass(
        'anti-spoofing',
        object,
        `port security is disabled on ${this.portLabel(port)}: no anti-spoofing, no security groups`,
      );
      return;
    }
    if (port.fixed_ips.some((f) => f.ip_address === packet.src)) {
      this.pass('anti-spoofing', object, `${packet.src} is a fixed IP of ${this.portLabel(port)}`);
      return;
    }
    // The instance sends with the port's MAC: a pair with another MAC does not cover it.
    const mac = port.mac_address.toLowerCase();
    const pairs = port.allowed_address_pairs.filter((pair) => pair.mac_address.toLowerCase() === mac);
    if (pairs.some((pair) => covers(pair.ip_address, packet.src))) {
      this.pass(
        'anti-spoofing',
        object,
        `${packet.src} is an allowed address pair of ${this.portLabel(port)}`,
      );
      return;
    }
    const own = port.fixed_ips.map((f) => f.ip_address).join(', ') || 'none';
    this.fail(
      'anti-spoofing',
      object,
      `anti-spoofing on ${this.portLabel(port)} drops packets from ${packet.src}: not its fixed IP (${own}) nor an allowed address pair`,
      'denied',
    );
  }

  /**
   * The port's security groups on the packet, `egress` as it leaves the port (the far end is the
   * address the source sent to) or `ingress` as it arrives (the far end is the source address as
   * the port sees it). Stateless groups also need a rule for the reply.
   */
  protected filter(port: TPort, packet: Packet, direction: 'ingress' | 'egress'): void {
    if (!port.port_security_enabled) {
      if (direction === 'ingress')
        this.pass(
          'ingress',
          this.object('port', port),
          `port security is disabled on ${this.portLabel(port)}: nothing filters what it receives`,
        );
      return;
    }
    // Another project's group decides what this port lets through: not the caller's to see.
    if (this.scoped && port.security_groups.some((id) => !this.groups.has(id))) this.leave();
    const groups = port.security_groups.flatMap((id) => this.groups.get(id) ?? []);
    const remote = direction === 'egress' ? packet.dst : packet.src;
    const match = this.match(groups, direction, packet, remote, false);
    const what = `${protocolText(packet)} ${direction === 'egress' ? 'to' : 'from'} ${remote}`;
    if (!match) {
      const names = groups.map((g) => this.groupName(g.id)).join(', ');
      this.fail(
        direction,
        this.object('port', port),
        groups.length === 0
          ? `${this.portLabel(port)} has no security group: it ${direction === 'egress' ? 'sends' : 'receives'} nothing`
          : `no ${direction} rule of ${groups.length > 1 ? 'security groups' : 'security group'} ${names} on ${this.portLabel(port)} allows ${what}`,
        'denied',
      );
    }
    this.pass(
      direction,
      this.ruleObject(match.group, match.rule),
      `${direction} rule ${short(match.rule.id)} of security group ${this.groupName(match.group.id)} (${ruleText(match.rule, this.groupName)}) allows ${what}`,
    );
    // The data plane tracks connections unless every group of the port is stateless.
    if (groups.length === 0 || groups.some((g) => g.stateful)) return;
    const back = direction === 'egress' ? 'ingress' : 'egress';
    const reply = this.match(groups, back, packet, remote, true);
    if (!reply)
      this.fail(
        back,
        this.object('port', port),
        `the security groups of ${this.portLabel(port)} are stateless and no ${back} rule lets the reply ${back === 'ingress' ? 'from' : 'to'} ${remote} through`,
        'denied',
      );
    this.pass(
      back,
      this.ruleObject(reply.group, reply.rule),
      `stateless: ${back} rule of security group ${this.groupName(reply.group.id)} (${ruleText(reply.rule, this.groupName)}) lets the reply through`,
    );
  }

  protected match(
    groups: TGroup[],
    direction: 'ingress' | 'egress',
    packet: Packet,
    remote: string,
    reply: boolean,
  ): { group: TGroup; rule: TraceRule } | undefined {
    const shape = {
      family: packet.family,
      protocol: packet.protocol,
      port: packet.port,
      icmpType: (reply ? ECHO_REPLY : ECHO_REQUEST)[packet.family],
      anyPort: reply,
    };
    for (const group of groups)
      for (const rule of group.security_group_rules)
        if (ruleMatches(rule, direction, shape, remote, this.isMember)) return { group, rule };
    return undefined;
  }

  protected ruleObject(group: TGroup, rule: TraceRule): TraceObject {
    return { type: 'security_group_rule', id: rule.id, name: group.name };
  }

  /**
   * A port's firewall group on the packet (FWaaS). On a router interface `egress` as it enters
   * the router from the interface's network, `ingress` as it leaves into it; on an instance port
   * `egress` as the instance sends it, `ingress` as it receives it (after its security groups:
   * both must pass it). The first of the direction's rules that matches decides; none: the
   * group's default drop. Ports in no group (or in one without a policy) pass everything, and
   * say nothing; an instance port's group filters it with or without port security.
   */
  protected firewall(port: TPort, direction: 'ingress' | 'egress', packet: Packet): void {
    const fw = this.firewalls.get(port.id);
    if (!fw) return;
    const group = this.object('firewall_group', fw.group);
    const groupName = `firewall group ${fw.group.name || short(fw.group.id)}`;
    const router = isRouterInterfaceOwner(port.device_owner);
    const where = `${this.portLabel(port)} (${router ? 'router interface' : 'instance port'})`;
    const what = `${protocolText(packet)} from ${packet.src} to ${packet.dst}`;
    if (!fw.admin_state_up)
      this.fail(
        'firewall',
        group,
        `${groupName} on ${where} is administratively down: it passes nothing`,
        'denied',
      );
    const rule = fw[direction].find((r) => firewallRuleMatches(r, packet));
    if (!rule)
      this.fail(
        'firewall',
        group,
        `no ${direction} rule of ${groupName} on ${where} matches ${what}: the group's default drop`,
        'denied',
      );
    const label = `${direction} firewall rule ${rule.name || short(rule.id)} (${firewallRuleText(rule)}) of ${groupName} on ${where}`;
    const object = this.object('firewall_rule', rule);
    if (rule.action === 'allow') this.pass('firewall', object, `${label} allows ${what}`);
    else
      this.fail(
        'firewall',
        object,
        `${label} ${rule.action === 'deny' ? 'drops' : 'rejects'} ${what}`,
        'denied',
      );
  }
}
