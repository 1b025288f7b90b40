// Counts YAML anchors and aliases in a multi-document text (shared by unit and e2e tests).
import { isAlias, isNode, parseAllDocuments, visit } from 'yaml';

export function anchorsAndAliases(text: string): number {
  let count = 0;
  for (const doc of parseAllDocuments(text)) {
    visit(doc, (_key, node) => {
      if (isAlias(node) || (isNode(node) && node.anchor !== undefined)) {
        count += 1;
      }
    });
  }
  return count;
}
