import { describe, expect, it } from 'vitest';
import { DaemonConfigError, discoverdServers, loadDaemonConfig } from '../src/config.js';

describe('flynn-host daemon flags', () => {
  it("has Flynn's defaults", () => {
    const c = loadDaemonConfig(['-id', 'host1'], {});
    expect(c).toMatchObject({
      id: 'host1',
      externalIp: '127.0.0.1',
      apiPort: 1113,
      stateDir: '/var/lib/flynn',
      logDir: '/var/log/flynn',
      logMaxSize: 100 * 1024 * 1024,
      volPath: '/var/lib/flynn/volumes',
      zpoolName: 'flynn-default',
      volumes: true,
      jobPorts: { start: 49152, end: 65535 },
      discoverd: ['127.0.0.1:1111'],
    });
  });

  it('takes Go-style flags and the environment', () => {
    const c = loadDaemonConfig(
      ['--external-ip=10.0.0.2', '-log-max-size', '4096', '-no-volumes', '-job-port-range', '20000-20999'],
      { FLYNN_HOST_ID: 'h2', DISCOVERD: '10.0.0.1:1111,10.0.0.2:1111' },
    );
    expect(c).toMatchObject({
      id: 'h2',
      externalIp: '10.0.0.2',
      logMaxSize: 4096,
      volumes: false,
      jobPorts: { start: 20000, end: 20999 },
      discoverd: ['10.0.0.1:1111', '10.0.0.2:1111'],
    });
  });

  it('refuses a host id with a dash (job ids are <host id>-<uuid>) and a bad port range', () => {
    expect(() => loadDaemonConfig(['-id', 'host-1'], {})).toThrow(DaemonConfigError);
    expect(() => loadDaemonConfig(['-id', 'h', '-job-port-range', '3000'], {})).toThrow(/START-END/);
    expect(() => loadDaemonConfig(['-id', 'h', '-job-port-range', '5000-4000'], {})).toThrow(/START-END/);
  });

  it('finds discoverd from $DISCOVERD, else from this host and -peer-ips (port 1111)', () => {
    const c = loadDaemonConfig(
      ['-id', 'h4', '-external-ip', '10.0.0.4', '--peer-ips', '10.0.0.1,10.0.0.4, 10.0.0.2'],
      {},
    );
    expect(c.peerIps).toEqual(['10.0.0.1', '10.0.0.4', '10.0.0.2']);
    expect(c.discoverd).toEqual(['10.0.0.4:1111', '10.0.0.1:1111', '10.0.0.2:1111']);
    expect(loadDaemonConfig(['-id', 'h', '-external-ip', '10.0.0.4'], {}).discoverd).toEqual([
      '10.0.0.4:1111',
    ]);
    expect(
      loadDaemonConfig(['-id', 'h', '-peer-ips', '10.0.0.1'], { DISCOVERD: '10.9.9.9:1111' }).discoverd,
    ).toEqual(['10.9.9.9:1111']);
    expect(discoverdServers('none', 'fd00::4', ['fd00::1'])).toEqual(['[fd00::4]:1111', '[fd00::1]:1111']);
  });

  it('refuses -discovery (not supported yet) and a -peer-ips entry that is no IP', () => {
    expect(() => loadDaemonConfig(['-id', 'h', '--discovery', 'https://x/y'], {})).toThrow(
      /discovery tokens are not supported yet/,
    );
    expect(() => loadDaemonConfig(['-id', 'h', '--peer-ips', '10.0.0.1,host2'], {})).toThrow(
      /-peer-ips: not an IP address: "host2"/,
    );
  });
});
