// GPU preprocessing: one frame (RGB family, NV12 or I420) to its slot of the model's
// letterboxed, normalised, planar RGB float input. One thread per output pixel.
//
// The CPU path's letterbox (preprocess.rs letterbox_into) in floats: OpenCV INTER_LINEAR
// taps, each plane's value rounded to an 8-bit level as the CPU path's resize stores it,
// colour converted from those levels, rounded again. The CPU path resizes in fixed point,
// so the two agree within a level or two (gpu::LEVELS_APART_AT_MOST). Compiled with
// --fmad=false, so the host C++ compiler's build in the tests computes what the GPU does.
// Plain C: NVRTC compiles it for the GPU, and the tests compile it with the host C++
// compiler to check it against the CPU path anywhere.

#define FORMAT_PACKED 0
#define FORMAT_NV12 1
#define FORMAT_I420 2

// Mirrors preprocess::YuvCoefficients: rgb from (y, u, v).
struct YuvCoefficients {
    float y_scale, y_offset, r_v, g_u, g_v, b_u;
};

// Mirrors gpu::kernel::LetterboxParams (repr(C), no implicit padding).
struct LetterboxParams {
    unsigned long long src;             // device address of the frame's bytes
    unsigned long long dst;             // device address of the slot: 3 planes of out_width*out_height floats
    unsigned long long plane_offset[3]; // byte offset of each plane from src
    double scale_x, scale_y;            // frame pixels per scaled pixel
    int stride[3];
    int format;
    int bytes_per_pixel, r, g, b;       // packed layout
    int width, height, out_width;
    int scaled_width, scaled_height, pad_left, pad_top;
    int out_height;
    YuvCoefficients yuv;
};

// OpenCV INTER_LINEAR taps along one axis (preprocess.rs Taps::new).
__device__ void linear_tap(int d, int src_len, double scale, int* first, int* second, float* weight) {
    double pos = ((double)d + 0.5) * scale - 0.5;
    double i = floor(pos);
    double w = pos - i;
    if (i < 0.0) {
        i = 0.0;
        w = 0.0;
    }
    int index = (int)i;
    if (index + 1 >= src_len) {
        index = src_len - 1;
        w = 0.0;
    }
    *first = index;
    *second = index + 1 < src_len ? index + 1 : src_len - 1;
    *weight = (float)w;
}

__device__ float lerp_u8(unsigned char a, unsigned char b, float w) {
    return (float)a + ((float)b - (float)a) * w;
}

__device__ float bilinear(const unsigned char* top, const unsigned char* bottom, int i0, int i1, float wx, float wy) {
    float t = lerp_u8(top[i0], top[i1], wx);
    float b = lerp_u8(bottom[i0], bottom[i1], wx);
    return t + (b - t) * wy;
}

// Rounds to an 8-bit level, as OpenCV stores the resized image.
__device__ float round_level(float v) {
    int q = (int)(v + 0.5f);
    q = q < 0 ? 0 : (q > 255 ? 255 : q);
    return (float)q;
}

// The same, normalised.
__device__ float level(float v) {
    return round_level(v) / 255.0f;
}

extern "C" __global__ void letterbox(const LetterboxParams p) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= p.out_width || y >= p.out_height) {
        return;
    }
    int area = p.out_width * p.out_height;
    float* out = (float*)p.dst + y * p.out_width + x;
    int dx = x - p.pad_left;
    int dy = y - p.pad_top;
    if (dx < 0 || dy < 0 || dx >= p.scaled_width || dy >= p.scaled_height) {
        float pad = 114.0f / 255.0f;
        out[0] = pad;
        out[area] = pad;
        out[2 * area] = pad;
        return;
    }
    const unsigned char* frame = (const unsigned char*)p.src;
    int x0, x1, y0, y1;
    float wx, wy;
    linear_tap(dx, p.width, p.scale_x, &x0, &x1, &wx);
    linear_tap(dy, p.height, p.scale_y, &y0, &y1, &wy);
    const unsigned char* plane0 = frame + p.plane_offset[0];
    const unsigned char* top = plane0 + (long long)y0 * p.stride[0];
    const unsigned char* bottom = plane0 + (long long)y1 * p.stride[0];
    float r, g, b;
    if (p.format == FORMAT_PACKED) {
        int a0 = x0 * p.bytes_per_pixel;
        int a1 = x1 * p.bytes_per_pixel;
        r = bilinear(top, bottom, a0 + p.r, a1 + p.r, wx, wy);
        g = bilinear(top, bottom, a0 + p.g, a1 + p.g, wx, wy);
        b = bilinear(top, bottom, a0 + p.b, a1 + p.b, wx, wy);
    } else {
        // Chroma at half resolution, its samples at the centre of each 2x2 luma block.
        int cw = (p.width + 1) / 2;
        int ch = (p.height + 1) / 2;
        int cx0, cx1, cy0, cy1;
        float cwx, cwy;
        linear_tap(dx, cw, p.scale_x / 2.0, &cx0, &cx1, &cwx);
        linear_tap(dy, ch, p.scale_y / 2.0, &cy0, &cy1, &cwy);
        float luma = round_level(bilinear(top, bottom, x0, x1, wx, wy));
        const unsigned char* plane1 = frame + p.plane_offset[1];
        const unsigned char* u_top = plane1 + (long long)cy0 * p.stride[1];
        const unsigned char* u_bottom = plane1 + (long long)cy1 * p.stride[1];
        const unsigned char* v_top = u_top;
        const unsigned char* v_bottom = u_bottom;
        int step = 2, v_offset = 1; // NV12: U and V interleaved in plane 1
        if (p.format == FORMAT_I420) {
            const unsigned char* plane2 = frame + p.plane_offset[2];
            v_top = plane2 + (long long)cy0 * p.stride[2];
            v_bottom = plane2 + (long long)cy1 * p.stride[2];
            step = 1;
            v_offset = 0;
        }
        int c0 = step * cx0, c1 = step * cx1;
        float u = round_level(bilinear(u_top, u_bottom, c0, c1, cwx, cwy));
        float v = round_level(bilinear(v_top, v_bottom, c0 + v_offset, c1 + v_offset, cwx, cwy));
        float yy = (luma - p.yuv.y_offset) * p.yuv.y_scale;
        u = u - 128.0f;
        v = v - 128.0f;
        r = yy + p.yuv.r_v * v;
        g = yy - p.yuv.g_u * u - p.yuv.g_v * v;
        b = yy + p.yuv.b_u * u;
    }
    out[0] = level(r);
    out[area] = level(g);
    out[2 * area] = level(b);
}
