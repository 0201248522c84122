// What both consumers share: their arguments, and one line of JSON per CloudEvent they read.

import { parseArgs } from "node:util";

export function options() {
  const { values } = parseArgs({
    options: {
      topics: { type: "string" }, // comma-separated, with the platform's topic prefix
      types: { type: "string", default: "poll.created,vote.cast" }, // stop once each was read
      timeout: { type: "string", default: "60" }, // seconds
    },
  });
  if (!values.topics) throw new Error("--topics is required");
  return { topics: values.topics.split(","), types: new Set(values.types.split(",")), timeout: Number(values.timeout) };
}

// The attributes of `event` (a cloudevents CloudEvent) as one JSON line, with whether it is a valid CloudEvent
// by the SDK's strict rules.
export function print(event) {
  let valid = true;
  let problem = null;
  try {
    event.validate();
  } catch (error) {
    valid = false;
    problem = String(error.message ?? error);
  }
  const { specversion, id, source, type, time, datacontenttype, dataschema, partitionkey, eventversion,
    correlationid, data } = event;
  console.log(JSON.stringify({ specversion, id, source, type, time, datacontenttype, dataschema, partitionkey,
    eventversion, correlationid, data, valid, problem }));
}

// Resolves once every type in `wanted` was seen; rejects after `seconds`.
export function waitFor(wanted, seconds) {
  let done;
  const seen = new Set();
  const finished = new Promise((resolve, reject) => {
    done = resolve;
    setTimeout(() => reject(new Error(`timed out; missing ${[...wanted].filter((t) => !seen.has(t))}`)), seconds * 1000);
  });
  return {
    finished,
    saw(type) {
      seen.add(type);
      if ([...wanted].every((t) => seen.has(t))) done();
    },
  };
}
