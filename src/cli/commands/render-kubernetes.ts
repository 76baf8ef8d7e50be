/**
 * `etcd-steward render kubernetes [--config FILE] [--output-dir DIR]`: the spec's cluster as
 * Kubernetes manifests — one YAML stream on stdout, or one file per object plus a
 * kustomization.yaml in DIR.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { agentImageWarnings } from '../../runtime/kubernetes/render-images.js';
import { renderKubernetes, toFiles, toYamlStream } from '../../runtime/kubernetes/render.js';
import { loadSpec, type GlobalOptions } from '../context.js';

export interface RenderKubernetesOptions extends GlobalOptions {
  readonly outputDir?: string;
  /** The `render` parent's --output-file: the stream into a file instead of stdout. */
  readonly outputFile?: string;
}

export async function renderKubernetesCommand(options: RenderKubernetesOptions): Promise<number> {
  const spec = await loadSpec(options, true);
  if (!spec) return 2;
  const objects = renderKubernetes(spec);
  for (const warning of agentImageWarnings(spec.kubernetes?.agentImage, spec.etcd.version))
    process.stderr.write(`warning: ${warning}\n`);
  if (options.outputDir === undefined) {
    if (options.outputFile !== undefined) await writeFile(options.outputFile, toYamlStream(objects));
    else process.stdout.write(toYamlStream(objects));
    return 0;
  }
  await mkdir(options.outputDir, { recursive: true });
  const files = toFiles(objects);
  for (const file of files) await writeFile(path.join(options.outputDir, file.name), file.content);
  process.stderr.write(
    `wrote ${objects.length} objects and kustomization.yaml to ${options.outputDir} (kubectl apply -k ${options.outputDir})\n`,
  );
  return 0;
}
