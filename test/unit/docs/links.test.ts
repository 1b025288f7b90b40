// Every relative link in README.md and docs/ resolves: the file exists and, when the link names
// an anchor, the target Markdown has a heading with that anchor (GitHub's rule: lower case,
// punctuation dropped, spaces as hyphens, "-1", "-2"... for repeats).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';

/** Markdown outside fenced code blocks (links and headings in code are text). */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = (match[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) {
    anchors.add(match[1] ?? '');
  }
  return anchors;
}

/** The broken relative links of one Markdown file, as "target: why". */
export function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const broken: string[] = [];
  for (const match of prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      continue;
    }
    const [path = '', anchor] = target.split('#', 2);
    const targetFile = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    const text = read(targetFile);
    if (text === undefined) {
      broken.push(`${target}: no such file`);
    } else if (anchor !== undefined && anchor !== '' && targetFile.endsWith('.md') && !anchorsOf(text).has(anchor)) {
      broken.push(`${target}: no heading with anchor #${anchor}`);
    }
  }
  return broken;
}

function markdownFiles(): string[] {
  const docs = join(REPO_ROOT, 'docs');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : path.endsWith('.md') ? [path] : [];
    });
  return [join(REPO_ROOT, 'README.md'), ...walk(docs), ...walk(join(REPO_ROOT, 'config'))];
}

const readIfExists = (path: string): string | undefined => (existsSync(path) ? (statSync(path).isDirectory() ? '' : readFileSync(path, 'utf8')) : undefined);

describe('links in README.md and docs/', () => {
  it.each(markdownFiles().map((f) => relative(REPO_ROOT, f)))('%s: every relative link and anchor resolves', (file) => {
    const path = join(REPO_ROOT, file);
    expect(brokenLinks(path, readFileSync(path, 'utf8'), readIfExists)).toEqual([]);
  });

  it('README.md stays a front door (at most 250 lines), and every docs page opens with what it covers', () => {
    expect(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(250);
    for (const page of readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'))) {
      const [title, blank, opening] = readFileSync(join(REPO_ROOT, 'docs', page), 'utf8').split('\n');
      expect({ page, title: title?.startsWith('# '), blank, opening: (opening ?? '').length > 20 }).toEqual({ page, title: true, blank: '', opening: true });
    }
  });

  it("the check finds a missing file, a missing anchor, and GitHub's anchors for punctuation and repeats", () => {
    const files: Record<string, string> = { '/r/a.md': '# Top\n## The real node (`up -- --real-node`)\n## Top\n```\n# not a heading\n```\n' };
    const read = (p: string): string | undefined => files[p];
    expect(
      brokenLinks('/r/b.md', '[x](a.md#the-real-node-up------real-node) [y](a.md#top-1) [z](a.md#not-a-heading) [w](c.md) [u](https://e.x/#q)', read),
    ).toEqual(['a.md#not-a-heading: no heading with anchor #not-a-heading', 'c.md: no such file']);
  });
});
