//! Media through `/cgi-bin`: `media/upload` (multipart field `media`) with its type,
//! format and size checks, `media/get`, `media/uploadvideo`, `material/add_news`, and
//! sends that use the media ids (image, voice, mpvideo, mpnews), in memory and durable.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

fn sendall(s: &Server, token: &str, body: serde_json::Value) -> serde_json::Value {
    let mut body = body;
    body["filter"] = json!({"is_to_all": true});
    post(s, "message/mass/sendall", token, body)
}

#[test]
fn uploads_are_checked_and_sent() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 3);

    // An image: uploaded, read back, sent.
    let image = png(5000);
    let up = success(upload(&s, &a.token, "image", "a.png", &image));
    assert_eq!(up["type"], "image");
    assert!(up["created_at"].as_u64().unwrap() > 1_700_000_000);
    let image_id = up["media_id"].as_str().unwrap().to_string();
    let back = s
        .client
        .get(s.url(&format!(
            "/cgi-bin/media/get?access_token={}&media_id={image_id}",
            a.token
        )))
        .send()
        .unwrap();
    assert_eq!(back.headers()["content-type"], "image/png");
    assert_eq!(back.bytes().unwrap().as_ref(), image.as_slice());
    let v = success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "image", "image": {"media_id": image_id}}),
    ));
    let id = v["msg_id"].as_u64().unwrap();
    assert_eq!(wait_sent(&s, &a.token, id), "SEND_SUCCESS");
    // The message in a follower's inbox names the media.
    let inbox = s.inbox(1, &s.user_token(1), 0);
    let m = &inbox["items"][0]["content"]["message"];
    assert_eq!(
        (m["type"].as_str(), m["media"]["media_id"].as_str()),
        (Some("image"), Some(image_id.as_str()))
    );
    assert_eq!(m["media"]["bytes"], 5000);
    // The newer `images` shape with one picture; more is refused.
    success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "images", "images": {"media_ids": [image_id], "recommend": "", "need_open_comment": 0}}),
    ));
    failure(
        sendall(
            &s,
            &a.token,
            json!({"msgtype": "images", "images": {"media_ids": [image_id, image_id]}}),
        ),
        40008,
    );

    // Voice: its play time read from the file.
    let voice = success(upload(&s, &a.token, "voice", "v.amr", &amr(3)));
    let v = success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "voice", "voice": {"media_id": voice["media_id"]}}),
    ));
    wait_sent(&s, &a.token, v["msg_id"].as_u64().unwrap());
    let inbox = s.inbox(1, &s.user_token(1), 0);
    let items = inbox["items"].as_array().unwrap();
    let m = &items.last().unwrap()["content"]["message"];
    assert_eq!(
        (m["type"].as_str(), m["media"]["duration_secs"].as_u64()),
        (Some("voice"), Some(3))
    );
    // An image id is no voice.
    failure(
        sendall(
            &s,
            &a.token,
            json!({"msgtype": "voice", "voice": {"media_id": image_id}}),
        ),
        40007,
    );

    // Video: uploaded, described, sent as mpvideo; the plain video id works too.
    let video = success(upload(&s, &a.token, "video", "v.mp4", &mp4(61, 100_000)));
    let described = success(post(
        &s,
        "media/uploadvideo",
        &a.token,
        json!({"media_id": video["media_id"], "title": "Launch", "description": "The launch video"}),
    ));
    assert_eq!(described["type"], "video");
    let v = success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "mpvideo", "mpvideo": {"media_id": described["media_id"]}}),
    ));
    let vid = v["msg_id"].as_u64().unwrap();
    wait_sent(&s, &a.token, vid);
    let inbox = s.inbox(2, &s.user_token(2), 0);
    let m = &inbox["items"].as_array().unwrap().last().unwrap()["content"]["message"];
    assert_eq!(
        (m["type"].as_str(), m["title"].as_str()),
        (Some("video"), Some("Launch"))
    );
    assert_eq!(m["media"]["duration_secs"], 61);
    success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "mpvideo", "mpvideo": {"media_id": video["media_id"], "title": "t"}}),
    ));
    failure(
        post(
            &s,
            "media/uploadvideo",
            &a.token,
            json!({"media_id": image_id, "title": "x"}),
        ),
        40007,
    );
    // A video send can be deleted.
    success(post(
        &s,
        "message/mass/delete",
        &a.token,
        json!({"msg_id": vid}),
    ));
    assert_eq!(
        success(post(
            &s,
            "message/mass/get",
            &a.token,
            json!({"msg_id": vid})
        ))["msg_status"],
        "DELETE"
    );

    // News: one article, its cover a thumb; sent as mpnews with msg_data_id.
    let news_id = news(&s, &a.token, "Weekly");
    let v = success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "mpnews", "mpnews": {"media_id": news_id}, "send_ignore_reprint": 1}),
    ));
    assert_eq!(v["msg_data_id"], v["msg_id"]);
    let nid = v["msg_id"].as_u64().unwrap();
    assert_eq!(wait_sent(&s, &a.token, nid), "SEND_SUCCESS");
    let inbox = s.inbox(0, &s.user_token(0), 0);
    let m = &inbox["items"].as_array().unwrap().last().unwrap()["content"]["message"];
    assert_eq!(
        (
            m["type"].as_str(),
            m["title"].as_str(),
            m["summary"].as_str()
        ),
        (Some("article"), Some("Weekly"), Some("a summary"))
    );
    // media/uploadnews, the older temporary-news API, is the same.
    let thumb = success(upload(
        &s,
        &a.token,
        "thumb",
        "t.jpg",
        b"\xFF\xD8\xFF\xE0 jpeg",
    ));
    assert_eq!(thumb["thumb_media_id"], thumb["media_id"]);
    let temp = success(post(
        &s,
        "media/uploadnews",
        &a.token,
        json!({"articles": [{"title": "T", "thumb_media_id": thumb["thumb_media_id"], "content": "body"}]}),
    ));
    assert_eq!(temp["type"], "news");
    success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "mpnews", "mpnews": {"media_id": temp["media_id"]}}),
    ));

    // add_news refusals.
    let cover = thumb["thumb_media_id"].clone();
    let article = |title: &str| json!({"title": title, "thumb_media_id": cover, "content": "b"});
    failure(
        post(
            &s,
            "material/add_news",
            &a.token,
            json!({"articles": [article("a"), article("b")]}),
        ),
        45008,
    );
    failure(
        post(&s, "material/add_news", &a.token, json!({"articles": []})),
        44003,
    );
    failure(
        post(
            &s,
            "material/add_news",
            &a.token,
            json!({"articles": [article(&"t".repeat(65))]}),
        ),
        45003,
    );
    failure(
        post(
            &s,
            "material/add_news",
            &a.token,
            json!({"articles": [{"title": "t", "thumb_media_id": "missing", "content": "b"}]}),
        ),
        40007,
    );
    failure(
        post(
            &s,
            "material/add_news",
            &a.token,
            json!({"articles": [{"title": "t", "thumb_media_id": voice["media_id"], "content": "b"}]}),
        ),
        40007,
    );
    failure(
        post(
            &s,
            "material/add_news",
            &a.token,
            json!({"articles": [{"title": "t", "thumb_media_id": cover, "content": ""}]}),
        ),
        44003,
    );
    // A news id is not an image.
    failure(
        sendall(
            &s,
            &a.token,
            json!({"msgtype": "image", "image": {"media_id": news_id}}),
        ),
        40007,
    );
    // add_material takes uploads as media/upload does.
    let m = success(upload_field(
        &s,
        "material/add_material",
        &a.token,
        "image",
        "media",
        "p.png",
        &png(100),
    ));
    assert!(m["media_id"].is_string() && m["url"].is_string());
}

#[test]
fn uploads_are_refused_by_type_format_and_size() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    failure(upload(&s, &a.token, "file", "a.png", &png(100)), 40004);
    failure(upload(&s, &a.token, "", "a.png", &png(100)), 40004);
    // Format from the bytes, not the name.
    failure(
        upload(&s, &a.token, "image", "a.png", b"not an image at all"),
        40005,
    );
    failure(upload(&s, &a.token, "image", "a.amr", &amr(1)), 40005);
    failure(upload(&s, &a.token, "voice", "a.png", &png(100)), 40005);
    failure(upload(&s, &a.token, "video", "a.png", &png(100)), 40005);
    failure(upload(&s, &a.token, "image", "a.png", b""), 40006);
    // The form field must be `media`.
    failure(
        upload_field(
            &s,
            "media/upload",
            &a.token,
            "image",
            "file",
            "a.png",
            &png(100),
        ),
        41005,
    );
    let r = s
        .client
        .post(s.url(&format!(
            "/cgi-bin/media/upload?access_token={}&type=image",
            a.token
        )))
        .body(png(100))
        .send()
        .unwrap();
    failure(r.json().unwrap(), 41005);
    // Sizes: thumb 64 KiB, image 10 MiB, voice 2 MiB and 60 s, video 10 MiB.
    success(upload(&s, &a.token, "thumb", "t.png", &png(64 * 1024)));
    failure(
        upload(&s, &a.token, "thumb", "t.png", &png(64 * 1024 + 1)),
        40012,
    );
    success(upload(&s, &a.token, "image", "i.png", &png(10 << 20)));
    failure(
        upload(&s, &a.token, "image", "i.png", &png((10 << 20) + 1)),
        40009,
    );
    failure(upload(&s, &a.token, "voice", "v.amr", &amr(61)), 45007);
    success(upload(&s, &a.token, "voice", "v.amr", &amr(60)));
    let mut big_voice = amr(1);
    big_voice.resize((2 << 20) + 1, 0);
    failure(upload(&s, &a.token, "voice", "v.amr", &big_voice), 40010);
    failure(
        upload(&s, &a.token, "video", "v.mp4", &mp4(5, (10 << 20) + 1)),
        40011,
    );
    // Far over every limit: refused from its Content-Length, before it is read. The
    // server answers 40006 at once and closes; the client may still be writing the body
    // and see the connection reset instead of the answer.
    let huge = reqwest::blocking::Client::new()
        .post(s.url(&format!(
            "/cgi-bin/media/upload?access_token={}&type=video",
            a.token
        )))
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body(vec![0u8; 20 << 20])
        .send();
    if let Ok(r) = huge {
        failure(r.json().unwrap(), 40006);
    }
    // media/get of something that is not a file of this account.
    failure(
        get(
            &s,
            &format!("/cgi-bin/media/get?access_token={}&media_id=nope", a.token),
        ),
        40007,
    );
}

#[test]
fn media_survive_a_restart() {
    let dir = temp_dir("wx-media");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let a = account(&s, "news");
    followers(&s, a.id, 2);
    let image = png(3000);
    let id = success(upload(&s, &a.token, "image", "a.png", &image))["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    let news_id = news(&s, &a.token, "Kept");
    drop(s); // SIGKILL
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let back = s
        .client
        .get(s.url(&format!(
            "/cgi-bin/media/get?access_token={}&media_id={id}",
            a.token
        )))
        .send()
        .unwrap();
    assert_eq!(back.bytes().unwrap().as_ref(), image.as_slice());
    let v = success(sendall(
        &s,
        &a.token,
        json!({"msgtype": "mpnews", "mpnews": {"media_id": news_id}}),
    ));
    assert_eq!(
        wait_sent(&s, &a.token, v["msg_id"].as_u64().unwrap()),
        "SEND_SUCCESS"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
