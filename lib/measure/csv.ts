// A small RFC 4180 reader: no CSV parser is among the package's dependencies, and benchmark files
// (CrowS-Pairs) hold quoted fields with commas, doubled quotes and line breaks that a naive split breaks.
import { DebiasError } from "../errors.js";

/**
 * Parses CSV text into records of fields. Records end at LF or CRLF; a field in double quotes may hold
 * commas, line breaks and doubled quotes (""). A leading byte-order mark is ignored, blank lines are
 * skipped (as Python's csv module does), and a final line break does not start a record. A quote inside
 * an unquoted field, text after a closing quote, or an unclosed quote is an error naming the line.
 */
export function parseCsv(text: string, source: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let line = 1;
  let i = text.startsWith("\uFEFF") ? 1 : 0;
  let fieldStart = true;
  let quoted = false;
  const fail = (why: string): never => {
    throw new DebiasError("E_CSV_PARSE", `${source}, line ${line}: ${why}.`);
  };
  const endRecord = () => {
    record.push(field);
    if (record.length > 1 || quoted || field !== "") records.push(record);
    record = [];
    field = "";
    fieldStart = true;
    quoted = false;
  };
  while (i < text.length) {
    const c = text[i];
    if (fieldStart && c === '"') {
      const recordLine = line;
      quoted = true;
      fieldStart = false;
      i++;
      for (;;) {
        if (i >= text.length) {
          line = recordLine;
          fail("a quoted field is never closed");
        }
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === "\n") line++;
        field += q;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== "," && next !== "\n" && !(next === "\r" && text[i + 1] === "\n")) {
        fail("text follows a closing quote");
      }
      continue;
    }
    if (c === ",") {
      record.push(field);
      field = "";
      fieldStart = true;
      quoted = false;
      i++;
    } else if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
      endRecord();
      line++;
      i += c === "\r" ? 2 : 1;
    } else {
      if (c === '"') fail("a quote appears inside an unquoted field");
      field += c;
      fieldStart = false;
      i++;
    }
  }
  if (!fieldStart || record.length > 0) endRecord();
  return records;
}
