/**
 * `etcd-steward render alerts|grafana`: the Prometheus rule file and the Grafana dashboard as
 * files, on stdout or into --output-file. (`render kubernetes` lives in its own file.)
 */
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { parseDuration } from '../../config/units.js';
import { StewardError } from '../../errors.js';
import { renderAlertRules, type AlertRuleOptions } from '../../monitoring/alerts.js';
import { renderGrafanaDashboard, type DashboardOptions } from '../../monitoring/grafana.js';
import { loadSpec, type GlobalOptions } from '../context.js';

export interface RenderFileOptions extends GlobalOptions {
  /** Write here instead of stdout. */
  readonly outputFile?: string;
  readonly etcdJob?: string;
  readonly stewardJob?: string;
}

export interface RenderAlertsOptions extends RenderFileOptions {
  readonly scrapeInterval?: string;
  readonly for?: string;
}

/** The rule file as YAML (or JSON with `-o json`), as `promtool check rules` reads it. */
export function alertRulesText(options: RenderAlertsOptions, spec?: { name: string }): string {
  const ruleOptions: AlertRuleOptions = {
    etcdJob: options.etcdJob,
    stewardJob: options.stewardJob,
    scrapeIntervalSeconds: options.scrapeInterval === undefined ? undefined : seconds(options.scrapeInterval),
    forOverride: options.for,
  };
  const rules = renderAlertRules(spec, ruleOptions);
  if (options.output === 'json') return `${JSON.stringify(rules, null, 2)}\n`;
  return `# Prometheus alerting rules rendered by etcd-steward (etcd-steward render alerts)\n${stringify(rules, { lineWidth: 0 })}`;
}

export async function renderAlertsCommand(options: RenderAlertsOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  await emit(alertRulesText(options, spec), options.outputFile);
  return 0;
}

export async function renderGrafanaCommand(options: RenderFileOptions): Promise<number> {
  const spec = await loadSpec(options, false);
  const dashboardOptions: DashboardOptions = { etcdJob: options.etcdJob, stewardJob: options.stewardJob };
  const dashboard = renderGrafanaDashboard(spec, dashboardOptions);
  await emit(`${JSON.stringify(dashboard, null, 2)}\n`, options.outputFile);
  return 0;
}

/** Seconds in a duration such as `30s`; parseDuration names a malformed value. */
function seconds(text: string): number {
  return parseDuration(text) / 1000;
}

async function emit(text: string, file: string | undefined): Promise<void> {
  if (file === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    await writeFile(file, text);
  } catch (error) {
    throw new StewardError(`cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
  process.stderr.write(`wrote ${file}\n`);
}
