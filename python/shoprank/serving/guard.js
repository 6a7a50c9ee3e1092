// The guard's check of an inference request (njs, inside nginx: guard.py), over HTTP and gRPC.
//
// Triton 2.51's HTTP/JSON reader allocates what an input's shape declares before it looks
// at the data (a shape of [1, 2^40] aborts the server); over gRPC a shape whose byte size
// wraps 64 bits ([1, 2^61 + n] INT64 with 8n bytes) passes Triton's size check and kills
// the Python stub that turns it into a NumPy array. So every infer request is checked here
// first and passed on only when each input is one the model reads, of its datatype, its
// declared element count within the model's limits and equal to the data it carries. A
// refused request gets 400 and Triton's own error body, {"error": "..."}, over HTTP, and
// INVALID_ARGUMENT over gRPC, naming the input and the rule. The limits are the global
// `limits`, preloaded by nginx (js_preload_object) from guard_limits.json, written at start
// from the served models' metadata:
//   {models: {name: {inputs: {name: {datatype, rank, max_elements}}, outputs: [names]}},
//    max_string_bytes}

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

// The number of length-prefixed strings in a BYTES input's binary data, data[start, end).
function countBytes(name, data, start, end) {
    let offset = start, count = 0;
    while (offset < end) {
        if (offset + 4 > end) refuse(`input '${name}': binary BYTES data is truncated`);
        const length = data.readUInt32LE(offset);
        if (length > limits.max_string_bytes) {
            refuse(`input '${name}': a string of ${length} bytes (limit ${limits.max_string_bytes})`);
        }
        offset += 4 + length;
        if (offset > end) refuse(`input '${name}': binary BYTES data is truncated`);
        count++;
    }
    return count;
}

// object[key] if the object has it itself ("constructor" is no input's name)
function own(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
}

// The model's spec of input `name`, refused unless the model reads it with this datatype.
function known(model, name, datatype) {
    const spec = own(model.inputs, name);
    if (!spec) {
        refuse(`unknown input '${name.slice(0, 80)}'; the model reads: `
               + Object.keys(model.inputs).join(', '));
    }
    if (datatype !== spec.datatype) {
        refuse(`input '${name}': datatype must be ${spec.datatype}, got ${describe(datatype)}`);
    }
    return spec;
}

// An input's binary data, data[start, end), holds the count of elements its shape declares.
function checkBinary(name, spec, shape, count, data, start, end) {
    const carried = spec.datatype === 'BYTES' ? countBytes(name, data, start, end)
        : (end - start) / SIZES[spec.datatype];
    if (carried !== count) {
        refuse(`input '${name}': shape ${describe(shape)} declares ${count} elements, `
               + `its binary data holds ${carried}`);
    }
}

function modelOf(name) {
    const model = own(limits.models, name);
    if (!model) refuse(`unknown model '${name.slice(0, 80)}'`);
    return model;
}

function checkInput(model, input, binary) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        refuse(`each input must be an object, got ${describe(input)}`);
    }
    const name = input.name;
    if (typeof name !== 'string') refuse(`an input has no name: ${describe(input)}`);
    const spec = known(model, name, input.datatype);
    const count = declared(name, input.shape, spec);
    const size = input.parameters ? input.parameters.binary_data_size : undefined;
    if (size !== undefined) {
        if (!Number.isInteger(size) || size < 0 || size > binary.rest) {
            refuse(`input '${name}': binary_data_size ${describe(size)} does not fit the `
                   + `${binary.rest} bytes of binary data left`);
        }
        checkBinary(name, spec, input.shape, count, binary.data, binary.offset,
                    binary.offset + size);
        binary.offset += size;
        binary.rest -= size;
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
    const model = modelOf(modelName);
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
    checkCount(Array.isArray(inputs) ? inputs.length : 0);
    const binary = {data: body, offset: jsonLength, rest: body.length - jsonLength};
    const seen = {};
    for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i];
        checkInput(model, input, binary);
        once(seen, input.name);
    }
    if (binary.rest !== 0) refuse(`${binary.rest} bytes of binary data belong to no input`);
    const outputs = request.outputs;
    if (outputs !== undefined) {
        // (a preloaded array is shared and read-only, without Array's methods: copied)
        const served = Array.prototype.slice.call(model.outputs);
        if (!Array.isArray(outputs) || outputs.length > served.length) {
            refuse(`"outputs" must be a list of at most ${served.length} outputs`);
        }
        for (let i = 0; i < outputs.length; i++) {
            const output = outputs[i];
            if (!output || typeof output.name !== 'string' || !served.includes(output.name)) {
                refuse(`unknown output ${describe(output && output.name)}; the model gives: `
                       + served.join(', '));
            }
        }
    }
    // A JSON-only request goes on re-written as it was read: what was checked is what Triton
    // reads (a number written 1.0 or 1e2 is an integer to JavaScript, a float to Triton).
    return header === undefined ? JSON.stringify(request) : undefined;
}

function checkCount(inputs) {
    if (inputs === 0 || inputs > MAX_INPUTS) refuse(`"inputs" must be a list of 1 to ${MAX_INPUTS} inputs`);
}

function once(seen, name) {
    if (seen[name]) refuse(`input '${name}' is given twice`);
    seen[name] = true;
}

// gRPC: the body is one message (a flag byte, 0: not compressed; a 4-byte big-endian
// length) holding a ModelInferRequest (protobuf, grpc_service.proto): model_name = 1,
// inputs = 5 (InferInputTensor: name = 1, datatype = 2, shape = 3, contents = 5),
// raw_input_contents = 7 (bytes, one per input, in order). Fields are read as protobuf
// reads them: a repeated one appends (a shape given in two pieces is one shape), a single
// one takes its last value, an unknown one is skipped. Written as one flat pass over the
// bytes (no closures, no objects per field): njs interprets, and each call and object
// costs microseconds.
let at = 0;  // the reader's position in the body

function checkGrpc(r) {
    const body = r.requestBuffer;
    if (body === undefined || body.length < 5) refuse('the request holds no gRPC message');
    if (body[0] !== 0) refuse('compressed gRPC messages are not accepted');
    const end = body.length;
    if (body.readUInt32BE(1) !== end - 5) refuse('the request must be one gRPC message');
    let modelName = '';
    const inputs = [], raw = [];  // [start, end) of each InferInputTensor, each raw content
    at = 5;
    while (at < end) {
        const key = varint(body, end), wire = key % 8;
        if (wire !== 2) {
            skip(body, end, wire);
            continue;
        }
        const from = delimited(body, end), field = (key - wire) / 8;
        if (field === 1) modelName = body.toString('utf8', from, at);
        else if (field === 5) inputs.push(from, at);
        else if (field === 7) raw.push(from, at);
    }
    const model = modelOf(modelName);
    const count = inputs.length / 2;
    checkCount(count);
    if (raw.length && raw.length !== inputs.length) {
        refuse(`${raw.length / 2} raw_input_contents for ${count} inputs`);
    }
    const seen = {};
    for (let i = 0; i < inputs.length; i += 2) {
        const input = grpcInput(body, inputs[i], inputs[i + 1]);
        const spec = known(model, input.name, input.datatype);
        const elements = declared(input.name, input.shape, spec);
        once(seen, input.name);
        // (typed contents are counted by Triton: a count within the limits cannot wrap)
        if (raw.length) checkBinary(input.name, spec, input.shape, elements, body, raw[i], raw[i + 1]);
    }
}

function grpcInput(body, start, end) {
    const input = {name: '', datatype: '', shape: []};
    at = start;
    while (at < end) {
        const key = varint(body, end), wire = key % 8, field = (key - wire) / 8;
        if (field === 3 && wire === 0) {
            input.shape.push(int64(body, end));
        } else if (wire !== 2) {
            skip(body, end, wire);
        } else {
            const from = delimited(body, end);
            if (field === 1) input.name = body.toString('utf8', from, at);
            else if (field === 2) input.datatype = body.toString('utf8', from, at);
            else if (field === 3) {  // packed
                const stop = at;
                at = from;
                while (at < stop) input.shape.push(int64(body, stop));
            }
        }
    }
    return input;
}

// A length-delimited field's bytes: returns where they start, leaves `at` past them.
function delimited(body, end) {
    const length = varint(body, end), from = at;
    at += length;
    if (at > end) refuse('the gRPC message is cut short');
    return from;
}

function skip(body, end, wire) {
    if (wire === 0) varint(body, end);
    else if (wire === 1 || wire === 5) at += wire === 1 ? 8 : 4;
    else refuse('the gRPC message is not a ModelInferRequest');
    if (at > end) refuse('the gRPC message is cut short');
}

// A base-128 varint: exact below 2^53, larger ones approximate (they fail every limit).
function varint(body, end) {
    let value = 0, scale = 1;
    for (let i = 0; i < 10 && at < end; i++) {
        const byte = body[at++];
        value += (byte & 0x7f) * scale;
        if (byte < 0x80) return value;
        scale *= 128;
    }
    refuse('the gRPC message is cut short or malformed');
}

// An int64 varint: ten bytes with bit 63 set are a negative number, read exactly from its
// two's complement, -(~value + 1), for the refusal to name it.
function int64(body, end) {
    const start = at;
    const value = varint(body, end);
    if (at - start < 10 || !(body[at - 1] & 1)) return value;
    let magnitude = 1, scale = 1;
    for (let i = start; i < start + 9; i++) {
        magnitude += (127 - (body[i] & 0x7f)) * scale;
        scale *= 128;
    }
    return -magnitude;
}

// What a refused request is told: the rule it broke, or why it could not be read.
function reason(e) {
    return e.refused ? e.message : `the request could not be read (${e.message})`;
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
        answer(r, 400, JSON.stringify({error: reason(e)}), {'Content-Type': 'application/json'});
        return;
    }
    if (body === undefined) {
        r.internalRedirect('@triton');
    } else {
        r.variables.guard_body = body;
        r.internalRedirect('@triton_json');
    }
}

// gRPC's ModelInfer: checked, then passed on to Triton's gRPC endpoint, or refused with
// INVALID_ARGUMENT (a gRPC error is an HTTP/2 answer whose headers carry its status).
function grpcInfer(r) {
    try {
        checkGrpc(r);
    } catch (e) {
        answer(r, 200, '', {'Content-Type': 'application/grpc', 'grpc-status': '3',
                            'grpc-message': encodeURIComponent(reason(e))});
        return;
    }
    r.internalRedirect('@triton_grpc');
}

export default {infer, grpcInfer};
