// The HTTP guard's check of an inference request (njs, inside nginx: http_guard.py).
//
// Triton 2.51's HTTP/JSON reader allocates what an input's shape declares before it looks
// at the data (a shape of [1, 2^40] aborts the server), so every infer request is checked
// here first and passed on only when each input's declared element count equals the data
// it carries and is within the model's limits. A refused request gets 400 and Triton's own
// error body, {"error": "..."}, naming the input and the rule. Limits come from
// guard_limits.js, written at start from the served models' metadata:
//   {models: {name: {inputs: {name: {datatype, rank, max_elements}}, outputs: [names]}},
//    max_string_bytes}

import limits from 'guard_limits.js';

const SIZES = {BOOL: 1, INT8: 1, UINT8: 1, INT16: 2, UINT16: 2, FP16: 2, BF16: 2, INT32: 4,
               UINT32: 4, FP32: 4, INT64: 8, UINT64: 8, FP64: 8};
const MAX_INPUTS = 256;
// Integers JSON may carry: Triton's reader refuses a float for an integer type with 500, and
// JavaScript holds integers exactly only to 2^53, so beyond that they must travel as binary.
const SAFE = Number.MAX_SAFE_INTEGER;
const RANGES = {INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-2147483648, 2147483647],
                INT64: [-SAFE, SAFE], UINT8: [0, 255], UINT16: [0, 65535],
                UINT32: [0, 4294967295], UINT64: [0, SAFE]};

// njs 0.7 has no classes: a refusal is an Error marked as one
function refuse(message) {
    const error = new Error(message);
    error.refused = true;
    throw error;
}

function describe(value) {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.slice(0, 80);
}

// The element count a shape declares, refused as soon as it passes the limit (no overflow).
function declared(name, shape, spec) {
    if (!Array.isArray(shape) || shape.length !== spec.rank) {
        refuse(`input '${name}': shape must be a list of ${spec.rank} sizes, got ${describe(shape)}`);
    }
    let count = 1;
    for (let i = 0; i < shape.length; i++) {
        const size = shape[i];
        if (!Number.isInteger(size) || size < 0) {
            refuse(`input '${name}': shape sizes must be integers >= 0, got ${describe(shape)}`);
        }
        count *= size;
        if (count > spec.max_elements) {
            refuse(`input '${name}': shape ${describe(shape)} declares more than the model's `
                   + `limit of ${spec.max_elements} elements`);
        }
    }
    return count;
}

function elementOk(datatype, value) {
    if (datatype === 'BYTES') return typeof value === 'string'
        && value.length <= limits.max_string_bytes;
    if (datatype === 'BOOL') return typeof value === 'boolean';
    if (typeof value !== 'number') return false;
    const range = RANGES[datatype];
    return !range || (Number.isInteger(value) && value >= range[0] && value <= range[1]);
}

// Counts the JSON data's elements (nested lists flatten, as Triton reads them), checking
// each one's type; stops past `expected`.
function countJson(name, datatype, data, expected) {
    let count = 0;
    const stack = [data];
    while (stack.length) {
        const value = stack.pop();
        if (Array.isArray(value)) {
            for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
            continue;
        }
        if (!elementOk(datatype, value)) {
            refuse(`input '${name}': ${datatype} data holds ${describe(value)}`
                   + (datatype === 'BYTES' && typeof value === 'string'
                      ? ` (strings are limited to ${limits.max_string_bytes} characters)` : '')
                   + (RANGES[datatype] && typeof value === 'number'
                      ? ` (JSON integers within ${RANGES[datatype].join('..')}; larger ones as `
                        + 'binary data)' : ''));
        }
        if (++count > expected) break;
    }
    return count;
}

// The number of length-prefixed strings in a BYTES input's binary data.
function countBytes(name, blob) {
    let offset = 0, count = 0;
    while (offset < blob.length) {
        if (offset + 4 > blob.length) refuse(`input '${name}': binary BYTES data is truncated`);
        const length = blob.readUInt32LE(offset);
        if (length > limits.max_string_bytes) {
            refuse(`input '${name}': a string of ${length} bytes (limit ${limits.max_string_bytes})`);
        }
        offset += 4 + length;
        if (offset > blob.length) refuse(`input '${name}': binary BYTES data is truncated`);
        count++;
    }
    return count;
}

function checkInput(model, input, binary) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        refuse(`each input must be an object, got ${describe(input)}`);
    }
    const name = input.name;
    if (typeof name !== 'string') refuse(`an input has no name: ${describe(input)}`);
    const spec = model.inputs[name];
    if (!spec) {
        refuse(`unknown input '${name.slice(0, 80)}'; the model reads: `
               + Object.keys(model.inputs).join(', '));
    }
    if (input.datatype !== spec.datatype) {
        refuse(`input '${name}': datatype must be ${spec.datatype}, got ${describe(input.datatype)}`);
    }
    const count = declared(name, input.shape, spec);
    const size = input.parameters ? input.parameters.binary_data_size : undefined;
    if (size !== undefined) {
        if (!Number.isInteger(size) || size < 0 || size > binary.rest) {
            refuse(`input '${name}': binary_data_size ${describe(size)} does not fit the `
                   + `${binary.rest} bytes of binary data left`);
        }
        const blob = binary.data.slice(binary.offset, binary.offset + size);
        binary.offset += size;
        binary.rest -= size;
        const carried = spec.datatype === 'BYTES' ? countBytes(name, blob)
            : size / SIZES[spec.datatype];
        if (carried !== count) {
            refuse(`input '${name}': shape ${describe(input.shape)} declares ${count} elements, `
                   + `its binary data holds ${carried}`);
        }
        return;
    }
    if (input.data === undefined) refuse(`input '${name}': no data and no binary_data_size`);
    const carried = countJson(name, spec.datatype, input.data, count);
    if (carried !== count) {
        refuse(`input '${name}': shape ${describe(input.shape)} declares ${count} elements, `
               + `its data holds ${carried > count ? 'more' : carried}`);
    }
}

function check(r, modelName) {
    const model = limits.models[modelName];
    if (!model) refuse(`unknown model '${modelName.slice(0, 80)}'`);
    const body = r.requestBuffer;
    if (body === undefined) refuse('the request body could not be read');
    let jsonLength = body.length;
    const header = r.headersIn['Inference-Header-Content-Length'];
    if (header !== undefined) {
        jsonLength = Number(header);
        if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > body.length) {
            refuse(`Inference-Header-Content-Length ${describe(header)} does not fit the `
                   + `${body.length}-byte body`);
        }
    }
    let request;
    try {
        request = JSON.parse(body.slice(0, jsonLength).toString());
    } catch (e) {
        refuse(`the request body is not valid JSON (${e.message})`);
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
        refuse('the request body must be a JSON object');
    }
    const inputs = request.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_INPUTS) {
        refuse(`"inputs" must be a list of 1 to ${MAX_INPUTS} inputs`);
    }
    const binary = {data: body, offset: jsonLength, rest: body.length - jsonLength};
    const seen = {};
    for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i];
        checkInput(model, input, binary);
        if (seen[input.name]) refuse(`input '${input.name}' is given twice`);
        seen[input.name] = true;
    }
    if (binary.rest !== 0) refuse(`${binary.rest} bytes of binary data belong to no input`);
    const outputs = request.outputs;
    if (outputs !== undefined) {
        if (!Array.isArray(outputs) || outputs.length > model.outputs.length) {
            refuse(`"outputs" must be a list of at most ${model.outputs.length} outputs`);
        }
        for (let i = 0; i < outputs.length; i++) {
            const output = outputs[i];
            if (!output || typeof output.name !== 'string' || !model.outputs.includes(output.name)) {
                refuse(`unknown output ${describe(output && output.name)}; the model gives: `
                       + model.outputs.join(', '));
            }
        }
    }
    // A JSON-only request goes on re-written as it was read: what was checked is what Triton
    // reads (a number written 1.0 or 1e2 is an integer to JavaScript, a float to Triton).
    return header === undefined ? JSON.stringify(request) : undefined;
}

function answer(r, status, body, headers) {
    for (const name in headers) {
        if (headers[name] !== undefined) r.headersOut[name] = headers[name];
    }
    r.return(status, body);
}

// Checks the request; passes it on to Triton (the proxy streams the answer back) or
// answers 400 itself.
function infer(r) {
    let body;
    try {
        body = check(r, decodeURIComponent(r.uri.split('/')[3]));
    } catch (e) {
        const message = e.refused ? e.message : `the request could not be read (${e.message})`;
        answer(r, 400, JSON.stringify({error: message}), {'Content-Type': 'application/json'});
        return;
    }
    if (body === undefined) {
        r.internalRedirect('/triton' + r.uri);
    } else {
        r.variables.guard_body = body;
        r.internalRedirect('/triton-json' + r.uri);
    }
}

export default {infer};
