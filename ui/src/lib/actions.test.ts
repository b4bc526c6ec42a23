import { describe, expect, it } from 'vitest';

import {
  applyFilterQuick, applyRedactionQuick, blockedKeyPattern, checkDraft, checkSettings, describeCounts, diffExample,
  fieldOfError, filterQuickFromConfig, keyOfBlockedPattern, nameProblem, ottlString, parseConfigText, parseOttlString,
  pathCondition, pathRuleOfCondition, previewSummary, redactionKeysWarning, redactionQuickFromConfig, samplingSummary,
  splitList, type Draft,
} from './actions';
import { controlErrorMessage } from './api';

describe('nameProblem', () => {
  it('takes the names the API takes', () => {
    for (const ok of ['mask-pii', 'a', '0', 'drop_health-2', 'a'.repeat(63)]) expect(nameProblem(ok)).toBe('');
  });

  it('names the field and the fix for any other', () => {
    expect(nameProblem('')).toMatch(/^name: required/);
    expect(nameProblem('Mask PII')).toMatch(/^name: 'Mask PII' has characters .* lower-case letters/);
    expect(nameProblem('-x')).toMatch(/starting with a letter or digit/);
    expect(nameProblem('a'.repeat(64))).toBe('name: 64 characters; use at most 63');
  });
});

describe('parseConfigText', () => {
  it('gives the object', () => {
    expect(parseConfigText('{"allow_all_keys": true}')).toEqual({ config: { allow_all_keys: true } });
  });

  it('says where the JSON breaks, from the "position" wording (Node, older Chromium)', () => {
    const text = '{\n  "a": 1,\n  "b": [1, 2\n}';
    const { error } = parseConfigText(text);
    expect(error?.line).toBe(4);
    expect(error?.column).toBe(1);
    expect(error?.offset).toBe(text.lastIndexOf('}'));
    expect(error?.message).toMatch(/^config is not valid JSON: line 4, column 1: /);
    expect(error?.message).not.toMatch(/position/);
  });

  it('reads the "line N column M" wording of other engines', () => {
    // parseConfigText only sees the engine's message; make JSON.parse word it as Firefox does.
    const real = JSON.parse;
    JSON.parse = () => { throw new SyntaxError('JSON.parse: expected \',\' or \'}\' after property value in object at line 2 column 9 of the JSON data'); };
    try {
      const { error } = parseConfigText('{\n  "a": 1 "b": 2}');
      expect(error).toEqual({
        message: 'config is not valid JSON: line 2, column 9: expected \',\' or \'}\' after property value in object',
        line: 2, column: 9, offset: 10,
      });
    } finally {
      JSON.parse = real;
    }
  });

  it('places an early end at the end of the text', () => {
    const { error } = parseConfigText('{"a": ');
    expect(error?.offset).toBe(6);
    expect(error?.message).toMatch(/^config is not valid JSON: line 1, column 7: /);
  });

  it('wants an object', () => {
    expect(parseConfigText('').error?.message).toBe('config: empty; write a JSON object, e.g. {}');
    expect(parseConfigText('[1]').error?.message).toMatch(/^config: a list; it must be a JSON object/);
    expect(parseConfigText('null').error?.message).toMatch(/^config: null;/);
    expect(parseConfigText('"x"').error?.message).toMatch(/^config: a string;/);
  });
});

describe('checkDraft', () => {
  const draft: Draft = { name: ' mask-pii ', type: 'redaction', description: ' PII ', enabled: true, configText: '{"allow_all_keys": true}' };

  it('makes the API body, trimmed', () => {
    expect(checkDraft(draft)).toEqual({
      input: { name: 'mask-pii', type: 'redaction', enabled: true, description: 'PII', config: { allow_all_keys: true } },
    });
  });

  it('lists every wrong field', () => {
    expect(checkDraft({ ...draft, name: 'Bad Name', type: '', configText: '{' }).errors).toEqual({
      name: expect.stringMatching(/^name: /),
      type: 'type: choose what the action does',
      config: expect.stringMatching(/^config is not valid JSON/),
    });
  });

  it('lets a preview go without a name, but not with a bad one', () => {
    expect(checkDraft({ ...draft, name: '' }, { needName: false }).input?.name).toBe('');
    expect(checkDraft({ ...draft, name: '' }).errors?.name).toMatch(/required/);
    expect(checkDraft({ ...draft, name: 'X Y' }, { needName: false }).errors?.name).toMatch(/^name: /);
  });
});

describe('fieldOfError', () => {
  it('puts a refusal next to the field it is about', () => {
    expect(fieldOfError(409, 'an action named mask-pii exists')).toBe('name');
    expect(fieldOfError(400, "name: 'A' is not a valid name")).toBe('name');
    expect(fieldOfError(400, "type: unknown action type 'x'; use redaction, filter, ...")).toBe('type');
    expect(fieldOfError(400, 'processors.redaction.builtin_patterns[0]: unknown pattern \'ssn\'')).toBe('config');
    expect(fieldOfError(400, 'config.blocked_values[1]: invalid regular expression')).toBe('config');
  });
});

describe('controlErrorMessage', () => {
  it('reads both error shapes of the API, and plain text', () => {
    expect(controlErrorMessage('{"error": "name: taken"}')).toBe('name: taken');
    expect(controlErrorMessage('{"errors": [{"code": 400, "msg": "config: bad"}], "data": null}')).toBe('config: bad');
    expect(controlErrorMessage('{"error": {"httpCode": 404, "message": "no action x"}}')).toBe('no action x');
    expect(controlErrorMessage('Bad Gateway')).toBe('Bad Gateway');
    expect(controlErrorMessage('', 502)).toBe('the API answered 502');
  });
});

describe('describeCounts and splitList', () => {
  it('reads counts', () => {
    expect(describeCounts({ spans_in: 1204, spans_out: 1190, spans_dropped: 14, changed: 230 })).toBe('1,204 in · 1,190 out · 14 dropped · 230 changed');
    expect(describeCounts({ spans_in: 0, spans_out: 0, spans_dropped: 0 })).toBe('0 in · 0 out · 0 dropped');
    expect(describeCounts(undefined)).toBe('no counts yet');
  });

  it('splits a typed list', () => {
    expect(splitList(' password, authorization\n token,password ')).toEqual(['password', 'authorization', 'token']);
    expect(splitList('  ')).toEqual([]);
  });
});

describe('redaction quick form', () => {
  it('writes the config the processor documents', () => {
    expect(applyRedactionQuick({}, { detectors: ['jwt', 'email'], blockedKeys: ['password', 'api.key'], keepAllKeys: true, maskSpanNames: false }))
      .toEqual({ allow_all_keys: true, builtin_patterns: ['email', 'jwt'], blocked_key_patterns: ['(?i)password', '(?i)api\\.key'] });
  });

  it('keeps what it does not show, and drops emptied lists', () => {
    const config = {
      allow_all_keys: true,
      builtin_patterns: ['email', 'ssn'],
      blocked_key_patterns: ['^x-(a|b)$', '(?i)password'],
      blocked_values: ['SSN-[0-9]+'],
      summary: 'info',
      redact_span_names: true,
    };
    expect(applyRedactionQuick(config, { detectors: [], blockedKeys: [], keepAllKeys: true, maskSpanNames: false })).toEqual({
      allow_all_keys: true, builtin_patterns: ['ssn'], blocked_key_patterns: ['^x-(a|b)$'], blocked_values: ['SSN-[0-9]+'], summary: 'info',
    });
  });

  it('reads back what it wrote (round trip), and only that', () => {
    const q = { detectors: ['email', 'credit_card', 'ipv6'], blockedKeys: ['password', 'x.(y)', 'auth*'], keepAllKeys: true, maskSpanNames: true };
    const config = applyRedactionQuick({ blocked_key_patterns: ['^raw$'] }, q);
    expect(redactionQuickFromConfig(config)).toEqual({ ...q, allowedKeys: 0 });
    expect(keyOfBlockedPattern('(?i)password')).toBe('password');
    expect(keyOfBlockedPattern('(?i)pass.*word')).toBeNull();
    expect(keyOfBlockedPattern('password')).toBeNull();
    expect(keyOfBlockedPattern(blockedKeyPattern('a\\b'))).toBe('a\\b');
  });

  it('warns when the keys would be removed', () => {
    expect(redactionKeysWarning(redactionQuickFromConfig({ allow_all_keys: true }))).toBe('');
    expect(redactionKeysWarning(redactionQuickFromConfig({ builtin_patterns: ['email'] }))).toMatch(/every attribute \(service\.name included\) will be removed/);
    expect(redactionKeysWarning(redactionQuickFromConfig({ allowed_keys: ['service.name', 'url.path'] }))).toMatch(/only the 2 keys in allowed_keys are kept/);
  });
});

describe('filter quick form', () => {
  it('writes OTTL conditions on url.path', () => {
    expect(pathCondition({ match: 'equals', value: '/health' })).toBe('attributes["url.path"] == "/health"');
    expect(pathCondition({ match: 'prefix', value: '/static/v1.2' })).toBe('IsMatch(attributes["url.path"], "^/static/v1\\\\.2")');
    expect(pathCondition({ match: 'regex', value: '^/(ready|live)z?$' })).toBe('IsMatch(attributes["url.path"], "^/(ready|live)z?$")');
    expect(pathCondition({ match: 'regex', value: '\\d+' })).toBe('IsMatch(attributes["url.path"], "\\\\d+")');
  });

  it('escapes OTTL strings both ways', () => {
    const nasty = 'a "quoted" \\ back\nline\ttab';
    expect(ottlString(nasty)).toBe('"a \\"quoted\\" \\\\ back\\nline\\ttab"');
    expect(parseOttlString(ottlString(nasty))).toBe(nasty);
    expect(parseOttlString('"\\q"')).toBeNull();
    expect(parseOttlString('"open')).toBeNull();
  });

  it('reads back each kind of rule', () => {
    for (const r of [
      { match: 'equals', value: '/health' }, { match: 'equals', value: '/a "b"' },
      { match: 'prefix', value: '/static/' }, { match: 'prefix', value: '/v1.2(x)' },
      { match: 'regex', value: '^/(ready|live)$' }, { match: 'regex', value: 'health' },
    ] as const) {
      expect(pathRuleOfCondition(pathCondition(r))).toEqual(r);
    }
    expect(pathRuleOfCondition('attributes["url.path"]=="/x"')).toEqual({ match: 'equals', value: '/x' });
    expect(pathRuleOfCondition('attributes["http.route"] == "/x"')).toBeNull();
    expect(pathRuleOfCondition('attributes["url.path"] == "/x" or name == "y"')).toBeNull();
  });

  it('generates the config, keeping other conditions and error_mode', () => {
    const rules = [{ match: 'equals', value: ' /health ' }, { match: 'prefix', value: '/metrics' }, { match: 'regex', value: '' }] as const;
    expect(applyFilterQuick({}, [...rules])).toEqual({
      error_mode: 'ignore',
      traces: { span: ['attributes["url.path"] == "/health"', 'IsMatch(attributes["url.path"], "^/metrics")'] },
    });
    const config = {
      error_mode: 'propagate',
      traces: { span: ['resource.attributes["service.name"] == "noisy"', 'attributes["url.path"] == "/old"'], spanevent: ['name == "x"'] },
    };
    const out = applyFilterQuick(config, [{ match: 'equals', value: '/new' }]);
    expect(out).toEqual({
      error_mode: 'propagate',
      traces: { span: ['resource.attributes["service.name"] == "noisy"', 'attributes["url.path"] == "/new"'], spanevent: ['name == "x"'] },
    });
    expect(filterQuickFromConfig(out)).toEqual({ rules: [{ match: 'equals', value: '/new' }], otherConditions: 1 });
    expect(applyFilterQuick({ traces: { span: ['attributes["url.path"] == "/old"'] } }, [])).toEqual({ error_mode: 'ignore', traces: {} });
  });
});

describe('diffExample', () => {
  it('marks changed, added, removed and same rows, name first', () => {
    const d = diffExample({
      before: { name: 'GET /users/123', attributes: { 'url.full': 'https://x/?email=jane%40example.com', 'http.response.status_code': 200, gone: 'x', tags: ['a'] } },
      after: { name: 'GET /users/{id}', attributes: { 'url.full': 'https://x/?email=****', 'http.response.status_code': 200, tags: ['a'], 'http.route': '/users/{id}' } },
    });
    expect(d.dropped).toBe(false);
    expect(d.rows).toEqual([
      { key: 'name', before: 'GET /users/123', after: 'GET /users/{id}', kind: 'changed' },
      { key: 'url.full', before: 'https://x/?email=jane%40example.com', after: 'https://x/?email=****', kind: 'changed' },
      { key: 'http.response.status_code', before: '200', after: '200', kind: 'same' },
      { key: 'gone', before: 'x', kind: 'removed' },
      { key: 'tags', before: '["a"]', after: '["a"]', kind: 'same' },
      { key: 'http.route', after: '/users/{id}', kind: 'added' },
    ]);
  });

  it('tells a number from the same text', () => {
    const d = diffExample({ before: { name: 'n', attributes: { code: 500 } }, after: { name: 'n', attributes: { code: '500' } } });
    expect(d.rows[1]).toEqual({ key: 'code', before: '500', after: '500', kind: 'changed' });
  });

  it('marks every row of a dropped span', () => {
    const d = diffExample({ before: { name: 'GET /health', attributes: { 'url.path': '/health' } }, after: null });
    expect(d).toEqual({
      dropped: true,
      rows: [{ key: 'name', before: 'GET /health', kind: 'removed' }, { key: 'url.path', before: '/health', kind: 'removed' }],
    });
  });
});

describe('previewSummary', () => {
  it('says what the action would do', () => {
    expect(previewSummary({ examined: 200, changed: 12, dropped: 3, examples: new Array(15) }, '1h'))
      .toBe('Of the 200 most recent spans (last 1h): 12 changed, 3 dropped, 185 untouched.');
    expect(previewSummary({ examined: 1000, changed: 30, dropped: 0, examples: new Array(20) }, '1h')).toMatch(/The first 20 are shown\.$/);
    expect(previewSummary({ examined: 0, changed: 0, dropped: 0, examples: [] }, '1h')).toMatch(/^No spans in the store from the last 1h/);
  });
});

describe('sampling', () => {
  it('says plainly that no enabled rule keeps everything', () => {
    expect(samplingSummary([], '10s')).toMatch(/^No sampling rule is enabled, so every trace is kept/);
    expect(samplingSummary([{ enabled: false }], '10s')).toMatch(/every trace is kept/);
    expect(samplingSummary([{ enabled: true }, { enabled: false }], '10s')).toMatch(/^1 rule is enabled: each trace is held for 10s .* kept whole when any enabled rule keeps it/);
  });

  it('checks the settings', () => {
    expect(checkSettings({ decision_wait: ' 10s ', num_traces: '50000' })).toEqual({ settings: { decision_wait: '10s', num_traces: 50000 } });
    expect(checkSettings({ decision_wait: '1m30s', num_traces: '1' }).settings?.decision_wait).toBe('1m30s');
    expect(checkSettings({ decision_wait: '10', num_traces: '0' }).errors).toEqual({
      decision_wait: "decision_wait: '10' is not a duration; write it as 10s, 1m30s or 500ms",
      num_traces: "num_traces: '0' is not a whole number of traces of at least 1, e.g. 50000",
    });
    expect(checkSettings({ decision_wait: '', num_traces: '2.5' }).errors).toEqual({
      decision_wait: 'decision_wait: required, a duration such as 10s',
      num_traces: expect.stringMatching(/^num_traces: '2\.5'/),
    });
    expect(checkSettings({ decision_wait: '0s', num_traces: '5' }).errors?.decision_wait).toMatch(/more than 0/);
  });
});
