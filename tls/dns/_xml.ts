/**
 * Internal: the little XML the Route 53 API needs: escaping text, and reading the text of
 * named elements from a response (Route 53's responses have no mixed content).
 * @module
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
const UNESCAPES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Escapes text for an XML element or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Undoes {@linkcode escapeXml}, and numeric character references. */
export function unescapeXml(text: string): string {
  return text.replace(
    /&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi,
    (_, ref: string) =>
      ref[0] === "#"
        ? String.fromCodePoint(ref[1].toLowerCase() === "x" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10))
        : UNESCAPES[ref.toLowerCase()],
  );
}

/** The raw inner XML of every `<tag>` element in `xml`, in order (elements of one tag must not nest). */
export function xmlElements(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  return Array.from(xml.matchAll(pattern), (m) => m[1]);
}

/** The unescaped text of the first `<tag>` element in `xml`, if any. */
export function xmlText(xml: string, tag: string): string | undefined {
  const inner = xmlElements(xml, tag)[0];
  return inner === undefined ? undefined : unescapeXml(inner.trim());
}
